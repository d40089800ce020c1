#!/usr/bin/env bash
# The docker-compose suite: start | stop | logs [service] | status | build | clean
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
  start) docker compose up -d --build && echo "hubbub: http://localhost:${HUBBUB_HTTP_PORT:-8080}/api/v1/ and Socket.IO on the same port" ;;
  stop) docker compose stop ;;
  logs) shift; docker compose logs -f "$@" ;;
  status) docker compose ps ;;
  build) docker compose build ;;
  clean) docker compose down -v ;;
  *) echo "usage: $0 start | stop | logs [service] | status | build | clean" >&2; exit 1 ;;
esac
