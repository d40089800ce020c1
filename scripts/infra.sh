#!/usr/bin/env bash
# Local infrastructure without Docker, all on 127.0.0.1:
#   RabbitMQ :5672 and Redis :6379  (reused when they answer, else started from Debian's packages)
#   tansu (Kafka protocol) :9092, secantus-mdb (MongoDB protocol) :27017, s3s-fs (S3) :9000
# Usage: scripts/infra.sh up | down | status
# Servers this script starts are recorded in $HUBBUB_RUN/pids and `down` stops exactly those.
# HUBBUB_KAFKA_STORAGE: tansu's engine, memory | file (its objects in $HUBBUB_RUN/data/kafka, kept across
# restarts; the tests; HUBBUB_KAFKA_DIR moves them, the tests to tmpfs) | sqlite (the default).
set -euo pipefail
source "$(dirname "$0")/common.sh"

DATA="$HUBBUB_RUN/data"
TOOLS="$(dirname "$0")/tools.sh"

# ensure NAME PORT START...: reuse a server answering on PORT, else start one.
ensure() {
  local name=$1 port=$2; shift 2
  if port_open "$port"; then
    pid_alive "$name" && log "$name: running (ours) on :$port" || log "$name: reusing the server on :$port"
    return 0
  fi
  log "$name: starting on :$port"
  "$@"
  wait_port "$port" 60 "$name"
}

start_rabbitmq() {
  command -v rabbitmq-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; }
  # Debian's server runs as a daemon of its own; it is the machine's, so `down` leaves it.
  rabbitmq-server -detached
}

start_redis() {
  command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
  mkdir -p "$DATA/redis"
  start_bg redis redis-server --bind 127.0.0.1 --port "$HUBBUB_REDIS_PORT" --save "" --appendonly no --dir "$DATA/redis"
}

start_tansu() {
  local storage bin
  bin=$("$TOOLS" path tansu)
  mkdir -p "$DATA/kafka"
  # tansu reads a sqlite:// path relative to its working directory: run it from the data dir.
  case ${HUBBUB_KAFKA_STORAGE:-sqlite} in
    memory) storage="memory://tansu/" ;;
    file) storage="file://${HUBBUB_KAFKA_DIR:-$DATA/kafka/objects}/" ;;
    sqlite) storage="sqlite://tansu.db" ;;
    *) die "HUBBUB_KAFKA_STORAGE is memory, file or sqlite, not ${HUBBUB_KAFKA_STORAGE}" ;;
  esac
  (cd "$DATA/kafka" && start_bg tansu "$bin" broker \
    --listener-url "tcp://127.0.0.1:$HUBBUB_KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$HUBBUB_KAFKA_PORT" \
    --storage-engine "$storage")
}

start_mongo() {
  mkdir -p "$DATA/mongo"
  start_bg mongo "$("$TOOLS" path secantus)" --host 127.0.0.1 --port "$HUBBUB_MONGO_PORT" \
    --storage-path "$DATA/mongo" --cache-size 256M --log-file-max 16MB
}

start_s3() {
  mkdir -p "$DATA/s3"
  start_bg s3 "$("$TOOLS" path s3s-fs)" --host 127.0.0.1 --port "$HUBBUB_S3_PORT" \
    --access-key "$HUBBUB_S3_ACCESS_KEY" --secret-key "$HUBBUB_S3_SECRET_KEY" "$DATA/s3"
}

up() {
  "$TOOLS" install
  ensure rabbitmq "$HUBBUB_AMQP_PORT" start_rabbitmq
  ensure redis "$HUBBUB_REDIS_PORT" start_redis
  ensure tansu "$HUBBUB_KAFKA_PORT" start_tansu
  ensure mongo "$HUBBUB_MONGO_PORT" start_mongo
  ensure s3 "$HUBBUB_S3_PORT" start_s3
}

down() {
  local name
  for name in s3 mongo tansu redis; do pid_alive "$name" && log "stopping $name"; done
  stop_pids s3 mongo tansu redis
}

status() {
  local name port
  for pair in rabbitmq:$HUBBUB_AMQP_PORT redis:$HUBBUB_REDIS_PORT tansu:$HUBBUB_KAFKA_PORT mongo:$HUBBUB_MONGO_PORT s3:$HUBBUB_S3_PORT; do
    name=${pair%%:*} port=${pair##*:}
    if port_open "$port"; then
      pid_alive "$name" && echo "$name  up    127.0.0.1:$port  (started here, pid $(cat "$HUBBUB_RUN/pids/$name.pid"))" \
        || echo "$name  up    127.0.0.1:$port  (not started by this run dir)"
    else
      echo "$name  down  127.0.0.1:$port"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up | down | status" ;;
esac
