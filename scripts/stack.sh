#!/usr/bin/env bash
# The whole hubbub stack on loopback: infrastructure, gateway, auth, user, group, message, three
# chat nodes, and nginx in front serving the web client at /, /api/v1/ and /socket.io/.
#   scripts/stack.sh up | down | status     (`up` on a running stack starts only what is down)
# Settings (environment):
#   HUBBUB_HTTP_PORT   nginx's port (default 8080)
#   HUBBUB_STORAGE_PORT  nginx's port in front of object storage, where signed URLs point
#                      (default HTTP_PORT + 1); HTTP_PORT + 10 + N: the same as HTTP_PORT with
#                      Socket.IO pinned to chat node N
#   HUBBUB_PORT_BASE   services bind BASE (gateway), BASE+1..4 (auth, user, group, message gRPC),
#                      BASE+11.. (chat nodes); default 3000. Each process's /health, /ready and
#                      /metrics: BASE+20 (gateway), BASE+21..24, BASE+40+N (chat-N)
#   HUBBUB_CHAT_NODES  number of chat nodes (default 3)
#   HUBBUB_PROFILE     release (default) or debug build of the hubbub binary
#   HUBBUB_NAMESPACE   prefix of queues, topics and databases (default hubbub)
#   HUBBUB_RUN         run directory for logs, pids and data (default .run in the repository)
#   HUBBUB_TANSU_RELEASE, HUBBUB_KAFKA_STORAGE  the Kafka stand-in: an optimised tansu (1) on its
#                      in-memory engine (memory) by default; 0 selects the debug build, file
#                      (HUBBUB_KAFKA_DIR) or sqlite an engine kept on disk (README, "Load test")
set -euo pipefail
source "$(dirname "$0")/common.sh"
export HUBBUB_TANSU_RELEASE=${HUBBUB_TANSU_RELEASE:-1}
export HUBBUB_KAFKA_STORAGE=${HUBBUB_KAFKA_STORAGE:-memory}

HTTP_PORT=${HUBBUB_HTTP_PORT:-8080}
STORAGE_PORT=${HUBBUB_STORAGE_PORT:-$((HTTP_PORT + 1))}
BASE=${HUBBUB_PORT_BASE:-3000}
NODES=${HUBBUB_CHAT_NODES:-3}
PROFILE=${HUBBUB_PROFILE:-release}
NAMESPACE=${HUBBUB_NAMESPACE:-hubbub}
SERVICES=(auth user group message gateway)

binary() {
  local flags=(--locked -p hubbub) dir=debug
  [[ $PROFILE == release ]] && flags+=(--release) && dir=release
  log "building hubbub ($PROFILE)"
  (cd "$HUBBUB_ROOT" && cargo build --quiet "${flags[@]}")
  BIN="${CARGO_TARGET_DIR:-$HUBBUB_ROOT/target}/$dir/hubbub"
}

service_env() {
  export HUBBUB_GATEWAY__PORT=$BASE
  export HUBBUB_RPC__AUTH__GRPC_ADDR=127.0.0.1:$((BASE + 1))
  export HUBBUB_RPC__USER__GRPC_ADDR=127.0.0.1:$((BASE + 2))
  export HUBBUB_RPC__GROUP__GRPC_ADDR=127.0.0.1:$((BASE + 3))
  export HUBBUB_RPC__MESSAGE__GRPC_ADDR=127.0.0.1:$((BASE + 4))
  export HUBBUB_RPC__AMQP_URL="amqp://guest:guest@127.0.0.1:$HUBBUB_AMQP_PORT/%2f"
  export HUBBUB_RPC__QUEUE_PREFIX="$NAMESPACE."
  export HUBBUB_KAFKA__BROKERS="127.0.0.1:$HUBBUB_KAFKA_PORT"
  export HUBBUB_KAFKA__TOPIC_PREFIX="$NAMESPACE."
  export HUBBUB_MONGO__URI="mongodb://127.0.0.1:$HUBBUB_MONGO_PORT/?directConnection=true"
  export HUBBUB_MONGO__DATABASE_PREFIX="${NAMESPACE}_"
  export HUBBUB_REDIS__URL="redis://127.0.0.1:$HUBBUB_REDIS_PORT/"
  export HUBBUB_REDIS__KEY_PREFIX="$NAMESPACE:"
  export HUBBUB_STORAGE__ENDPOINT="http://127.0.0.1:$HUBBUB_S3_PORT"
  export HUBBUB_STORAGE__PUBLIC_ENDPOINT="http://127.0.0.1:$STORAGE_PORT"
  export HUBBUB_STORAGE__ACCESS_KEY="$HUBBUB_S3_ACCESS_KEY"
  export HUBBUB_STORAGE__SECRET_KEY="$HUBBUB_S3_SECRET_KEY"
  export HUBBUB_STORAGE__BUCKET="$NAMESPACE"
  # The services refuse the built-in development secret: a local stack gets a random one of its
  # own, kept in its run directory so tokens survive a restart (or HUBBUB_TOKEN__SECRET wins).
  # The same for the secret that signs internal calls (HUBBUB_RPC__INTERNAL_SECRET wins).
  local var file
  for var in HUBBUB_TOKEN__SECRET:token-secret HUBBUB_RPC__INTERNAL_SECRET:internal-secret; do
    file="$HUBBUB_RUN/${var#*:}" var=${var%%:*}
    if [[ -z ${!var:-} ]]; then
      [[ -s $file ]] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
      export "$var=$(cat "$file")"
    fi
  done
  export RUST_LOG=${RUST_LOG:-info}
}

chat_port() { echo $((BASE + 10 + $1)); }

# awaiting NAME CHECK...: run CHECK every 0.1 s until it succeeds (true) or 60 s pass (false);
# if NAME dies meanwhile, show its log and fail.
awaiting() {
  local name=$1 i
  shift
  for ((i = 0; i < 600; i++)); do
    "$@" && return 0
    pid_alive "$name" || { tail -n 30 "$HUBBUB_RUN/logs/$name.log" >&2; die "$name exited during startup"; }
    sleep 0.1
  done
  return 1
}

# started NAME PORT: wait for NAME's port.
started() {
  awaiting "$1" port_open "$2" || die "$1 did not open 127.0.0.1:$2 within 60s (see $HUBBUB_RUN/logs/$1.log)"
}

# says_ready OPS_PORT: whether that /ready answers 200.
says_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$1/ready" 2>/dev/null; }

# ready NAME OPS_PORT: wait until NAME's /ready says 200: its dependencies answer and its
# consumer groups have their partitions (a broker holds a joining member for seconds, and sends
# made meanwhile would wait that long). Fails with what /ready last said.
ready() {
  awaiting "$1" says_ready "$2" || die "$1 was not ready within 60s: $(curl -sS "http://127.0.0.1:$2/ready" 2>&1)"
}

# A stack with a dead process (a killed chat node, say) heals: `up` starts only what is down. A
# port held by a process this run directory did not start is an error.
start_unless_running() {
  local name=$1 port=$2; shift 2
  if pid_alive "$name"; then
    return 0
  fi
  port_open "$port" && die "127.0.0.1:$port ($name) is taken by a process this stack did not start"
  [[ -f $HUBBUB_RUN/pids/$name.pid ]] && log "$name is down: starting it again"
  start_bg "$name" "$@"
}

up() {
  "$(dirname "$0")/infra.sh" up
  binary
  service_env
  local svc i
  local -A ports=([gateway]=$BASE [auth]=$((BASE + 1)) [user]=$((BASE + 2)) [group]=$((BASE + 3)) [message]=$((BASE + 4)))
  for svc in "${SERVICES[@]}"; do
    # A name stable across restarts: consumer groups use static membership (see KafkaSettings).
    start_unless_running "$svc" "${ports[$svc]}" env HUBBUB_KAFKA__INSTANCE_ID="$svc" \
      HUBBUB_OPS__PORT=$((${ports[$svc]} + 20)) "$BIN" "$svc"
  done
  for ((i = 1; i <= NODES; i++)); do
    start_unless_running "chat-$i" "$(chat_port "$i")" env HUBBUB_OPS__PORT=$((BASE + 40 + i)) \
      "$BIN" chat --port "$(chat_port "$i")" --node-id "chat-$i"
  done
  started auth $((BASE + 1)); started user $((BASE + 2)); started group $((BASE + 3))
  started message $((BASE + 4)); started gateway "$BASE"
  for ((i = 1; i <= NODES; i++)); do started "chat-$i" "$(chat_port "$i")"; done
  for svc in "${SERVICES[@]}"; do ready "$svc" $((${ports[$svc]} + 20)); done
  for ((i = 1; i <= NODES; i++)); do ready "chat-$i" $((BASE + 40 + i)); done
  command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
  web_client
  local conf chat_ports=()
  for ((i = 1; i <= NODES; i++)); do chat_ports+=("$(chat_port "$i")"); done
  conf=$(render_nginx "$HUBBUB_RUN" "$HTTP_PORT" "$STORAGE_PORT" "$BASE" "$HUBBUB_S3_PORT" "${chat_ports[@]}")
  pid_alive nginx || { port_open "$STORAGE_PORT" && die "127.0.0.1:$STORAGE_PORT (storage via nginx) is taken by a process this stack did not start"; }
  start_unless_running nginx "$HTTP_PORT" nginx -e "$HUBBUB_RUN/logs/nginx-error.log" -p "$HUBBUB_RUN/nginx" -c "$conf" -g 'daemon off;'
  started nginx "$HTTP_PORT"
  cat <<MSG

hubbub is up.
  web client  http://127.0.0.1:$HTTP_PORT/
  HTTP API    http://127.0.0.1:$HTTP_PORT/api/v1/   (docs: /api/v1/docs, spec: /api/v1/openapi.json)
  Socket.IO   http://127.0.0.1:$HTTP_PORT  path /socket.io/, auth: { token: "<accessToken>" }
  storage     http://127.0.0.1:$STORAGE_PORT  (signed upload and download URLs point here)
  chat nodes  $NODES behind nginx (node N alone: port $((HTTP_PORT + 10)) + N); logs and pids in $HUBBUB_RUN
  stop        scripts/stack.sh down
MSG
}

down() {
  local i chats=()
  for ((i = 1; i <= 64; i++)); do chats+=("chat-$i"); done
  # Edge first, so no new work arrives while the services behind it drain.
  stop_pids nginx
  stop_pids gateway "${chats[@]}"
  stop_pids message group user auth
  "$(dirname "$0")/infra.sh" down
  log "stack stopped"
}

status() {
  local name
  for name in nginx "${SERVICES[@]}" $(for ((i = 1; i <= NODES; i++)); do echo "chat-$i"; done); do
    if pid_alive "$name"; then echo "$name  up    pid $(cat "$HUBBUB_RUN/pids/$name.pid")"; else echo "$name  down"; fi
  done
  "$(dirname "$0")/infra.sh" status
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up | down | status" ;;
esac
