#!/usr/bin/env bash
# The docker-compose suite: start | stop | logs [service...] | status | build | clean
#   start   build what changed, start everything, and return once every service is healthy
#   stop    stop the containers (data volumes kept)
#   logs    follow the logs (of the services named, or all)
#   status  the containers and their health
#   build   build the hubbub images
#   clean   remove the containers, the network and the data volumes
# Settings: HUBBUB_ENV_FILE (default .env: the secrets, written on first start), HUBBUB_HTTP_PORT
# (8080), HUBBUB_STORAGE_PORT (9080), HUBBUB_PUBLISH_ADDR (127.0.0.1; 0.0.0.0 serves other
# machines), DOCKER_COMPOSE (default `docker compose`), and compose's own COMPOSE_FILE and
# COMPOSE_PROJECT_NAME.
set -euo pipefail
cd "$(dirname "$0")"
env_file="${HUBBUB_ENV_FILE:-.env}"
read -r -a compose <<<"${DOCKER_COMPOSE:-docker compose}"
compose+=(--env-file "$env_file")

# Secrets come from the environment or the env file, never from a default in the repository:
# the first start writes the env file with fresh random ones (.env is kept out of git).
ensure_env() {
  rand() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  if [[ -f $env_file ]]; then
    # An env file from before internal calls were signed gets the secret they need.
    grep -q '^HUBBUB_INTERNAL_SECRET=' "$env_file" || printf 'HUBBUB_INTERNAL_SECRET=%s\n' "$(rand)" >>"$env_file"
    return 0
  fi
  (umask 077 && printf 'HUBBUB_TOKEN_SECRET=%s\nHUBBUB_INTERNAL_SECRET=%s\nHUBBUB_S3_ACCESS_KEY=hubbub\nHUBBUB_S3_SECRET_KEY=%s\n' "$(rand)" "$(rand)" "$(rand)" >"$env_file")
  echo "wrote $env_file with fresh secrets"
}

case "${1:-}" in
  start)
    ensure_env
    "${compose[@]}" up -d --build --wait
    echo "hubbub: http://localhost:${HUBBUB_HTTP_PORT:-8080}/ (the web client), /api/v1/ and Socket.IO on the same port"
    ;;
  stop) ensure_env && "${compose[@]}" stop ;;
  logs) shift; ensure_env && "${compose[@]}" logs -f "$@" ;;
  status) ensure_env && "${compose[@]}" ps --all ;;
  build) ensure_env && "${compose[@]}" build ;;
  clean) ensure_env && "${compose[@]}" down -v --remove-orphans ;;
  *) echo "usage: $0 start | stop | logs [service...] | status | build | clean" >&2; exit 1 ;;
esac
