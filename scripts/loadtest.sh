#!/usr/bin/env bash
# The load test. Drives a running stack (`scripts/stack.sh up`) with hubbub-loadtest
# (scripts/loadtest/, a Rust Socket.IO load generator), and the same workload against a plain
# Node Socket.IO 4 + Redis adapter server (scripts/loadtest/reference/) for comparison.
#   scripts/loadtest.sh chat [ARGS]       G groups × M members at R msgs/s (default 10 × 10, 500/s, 60 s)
#   scripts/loadtest.sh idle [ARGS]       N connections held: memory per connection, idle CPU
#   scripts/loadtest.sh storm [ARGS]      N connections broken at once, back and synced how fast
#   scripts/loadtest.sh history [ARGS]    REST reads at a rate
#   scripts/loadtest.sh reference SCENARIO [ARGS]   a scenario against the Node reference
#   scripts/loadtest.sh compare [ARGS]    chat against hubbub, then the reference; both in one table
#   scripts/loadtest.sh smoke             a few seconds of chat that must lose nothing (scripts/test.sh)
# ARGS go to the load generator (`--help` lists them, e.g. `chat --rate 1000 --ramp 1500,2000`).
# Results: target/loadtest/<time>-<system>-<scenario>/ (summary.json, table.md, PNG charts).
# Settings (environment):
#   HUBBUB_HTTP_PORT          the stack's nginx port (default 8080)
#   HUBBUB_RUN                the stack's run directory (default .run): its pids are watched
#   HUBBUB_LOADTEST_PROFILE   release (default) or debug build of the load generator
#   HUBBUB_REFERENCE_NODES    Node reference processes (default 3), behind nginx on
#   HUBBUB_REFERENCE_PORT     (default 8090; node N alone on +10+N, as the stack's nginx has it);
#                             storage (unused) on +99, the processes on +101..
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$HUBBUB_ROOT"

HTTP_PORT=${HUBBUB_HTTP_PORT:-8080}
PROFILE=${HUBBUB_LOADTEST_PROFILE:-release}
REF_NODES=${HUBBUB_REFERENCE_NODES:-3}
REF_PORT=${HUBBUB_REFERENCE_PORT:-8090}
REF_RUN="$HUBBUB_RUN/reference"

# Sockets, their nginx upstreams and the generator's own: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build() {
  local flags=(--locked --quiet -p hubbub-loadtest) dir=debug
  [[ $PROFILE == release ]] && flags+=(--release) && dir=release
  log "building the load generator ($PROFILE)"
  cargo build "${flags[@]}"
  LOADGEN="${CARGO_TARGET_DIR:-$HUBBUB_ROOT/target}/$dir/hubbub-loadtest"
}

# Watch the stack's processes, plus Redis and RabbitMQ when the machine runs them.
hubbub_watch() {
  echo --url "http://127.0.0.1:$HTTP_PORT" --pids "$HUBBUB_RUN/pids" \
    --port-proc "redis=$HUBBUB_REDIS_PORT" --port-proc "rabbitmq=$HUBBUB_AMQP_PORT"
}

reference_watch() {
  echo --reference --url "http://127.0.0.1:$REF_PORT" --pids "$REF_RUN/pids" --port-proc "redis=$HUBBUB_REDIS_PORT"
}

need_stack() {
  port_open "$HTTP_PORT" || die "nothing answers on 127.0.0.1:$HTTP_PORT: start the stack first (scripts/stack.sh up)"
}

reference_up() {
  local dir sum i ports=()
  command -v node >/dev/null || die "node is needed for the reference server"
  sum=$(sha256sum scripts/loadtest/reference/package.json | cut -c1-12)
  dir="$HUBBUB_TOOLS/loadtest-reference-$sum"
  if [[ ! -d $dir/node_modules/socket.io ]]; then
    log "installing the reference server's packages into $dir"
    mkdir -p "$dir" && cp scripts/loadtest/reference/package.json "$dir/"
    (cd "$dir" && npm install --silent --no-audit --no-fund >/dev/null)
  fi
  cp scripts/loadtest/reference/server.mjs "$dir/"
  port_open "$HUBBUB_REDIS_PORT" || die "the reference needs Redis on 127.0.0.1:$HUBBUB_REDIS_PORT (scripts/infra.sh up)"
  mkdir -p "$REF_RUN/logs"
  local stack_run=$HUBBUB_RUN
  HUBBUB_RUN="$REF_RUN"
  for ((i = 1; i <= REF_NODES; i++)); do
    ports+=($((REF_PORT + 100 + i)))
    pid_alive "ref-$i" || start_bg "ref-$i" env PORT="${ports[-1]}" \
      REDIS_URL="redis://127.0.0.1:$HUBBUB_REDIS_PORT/" node "$dir/server.mjs"
  done
  for ((i = 1; i <= REF_NODES; i++)); do wait_port "${ports[i - 1]}" 30 "reference ref-$i"; done
  # The stack's nginx config, its chat upstream pointed at the Node processes; no gateway and
  # no storage behind it (nothing listens on port 1).
  render_nginx "$REF_RUN" "$REF_PORT" $((REF_PORT + 99)) 1 1 "${ports[@]}" >/dev/null
  pid_alive ref-nginx || start_bg ref-nginx nginx -e "$REF_RUN/logs/nginx-error.log" -p "$REF_RUN/nginx" \
    -c "$REF_RUN/nginx/nginx.conf" -g 'daemon off;'
  wait_port "$REF_PORT" 30 "reference nginx"
  HUBBUB_RUN=$stack_run
}

reference_down() {
  local names=(ref-nginx) i
  for ((i = 1; i <= 64; i++)); do names+=("ref-$i"); done
  HUBBUB_RUN="$REF_RUN" stop_pids "${names[@]}"
}

cmd=${1:-chat}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  chat | idle | storm | history)
    need_stack
    build
    # shellcheck disable=SC2046
    exec "$LOADGEN" $(hubbub_watch) "$cmd" "$@"
    ;;
  reference)
    scenario=${1:-chat}
    [[ $# -gt 0 ]] && shift
    build
    trap reference_down EXIT
    reference_up
    # shellcheck disable=SC2046
    "$LOADGEN" $(reference_watch) "$scenario" "$@"
    ;;
  compare)
    need_stack
    build
    stamp=$(date +%s)
    out="target/loadtest/$stamp-compare"
    mkdir -p "$out"
    # shellcheck disable=SC2046
    "$LOADGEN" $(hubbub_watch) --out "$out/hubbub" chat "$@" || log "hubbub's run missed its targets"
    trap reference_down EXIT
    reference_up
    # shellcheck disable=SC2046
    "$LOADGEN" $(reference_watch) --out "$out/node-reference" chat "$@" || log "the reference's run missed its targets"
    reference_down
    "$LOADGEN" compare "$out/hubbub/summary.json" "$out/node-reference/summary.json" | tee "$out/compare.md"
    log "both runs and the comparison are in $out"
    ;;
  smoke)
    need_stack
    build
    # A few seconds, nothing may be lost, duplicated or out of order; latency is not judged
    # here (a debug stack, with the tests' broker on its file engine, on a busy machine: p99 was
    # 4.7 s once), only in real runs: a delivery must only arrive within the drain.
    # shellcheck disable=SC2046
    exec "$LOADGEN" $(hubbub_watch) --max-seconds 120 --assert --out "$HUBBUB_RUN/loadtest-smoke" \
      chat --groups 3 --members 4 --rate 40 --duration 4 --drain 15 --p99-target-ms 15000
    ;;
  *) die "usage: $0 chat|idle|storm|history|compare|smoke [ARGS] | reference SCENARIO [ARGS]" ;;
esac
