#!/usr/bin/env bash
# The docker-compose suite: start | stop | logs [service] | status | build | clean
set -euo pipefail
cd "$(dirname "$0")"

# Secrets come from the environment or .env, never from a default in the repository: the first
# start writes a .env with fresh random ones (kept out of git).
ensure_env() {
  rand() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  if [[ -f .env ]]; then
    # A .env from before internal calls were signed gets the secret they need.
    grep -q '^HUBBUB_INTERNAL_SECRET=' .env || printf 'HUBBUB_INTERNAL_SECRET=%s\n' "$(rand)" >>.env
    return 0
  fi
  (umask 077 && printf 'HUBBUB_TOKEN_SECRET=%s\nHUBBUB_INTERNAL_SECRET=%s\nHUBBUB_S3_ACCESS_KEY=hubbub\nHUBBUB_S3_SECRET_KEY=%s\n' "$(rand)" "$(rand)" "$(rand)" >.env)
  echo "wrote .env with fresh secrets"
}

case "${1:-}" in
  start) ensure_env && docker compose up -d --build && echo "hubbub: http://localhost:${HUBBUB_HTTP_PORT:-8080}/api/v1/ and Socket.IO on the same port" ;;
  stop) docker compose stop ;;
  logs) shift; docker compose logs -f "$@" ;;
  status) docker compose ps ;;
  build) docker compose build ;;
  clean) docker compose down -v ;;
  *) echo "usage: $0 start | stop | logs [service] | status | build | clean" >&2; exit 1 ;;
esac
