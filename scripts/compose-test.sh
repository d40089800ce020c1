#!/usr/bin/env bash
# The docker-compose suite, run for real on this machine: a dockerd of our own, images built
# without a registry (a debootstrap base tagged debian:bookworm-slim; stand-ins for the images
# docker-compose.yml pulls, deploy/standins/), every docker-start.sh verb, and end-to-end tests
# through the compose nginx.
#   scripts/compose-test.sh            everything, then the suite and dockerd are stopped
#   KEEP=1 scripts/compose-test.sh     leaves the suite running (stop it: scripts/compose-test.sh down)
# Images and the layer cache persist in $HUBBUB_TOOLS/docker, so only the first run pays the
# base image (about 40 s) and the stand-ins' Debian packages.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$HUBBUB_ROOT"

export HUBBUB_RUN="$HUBBUB_ROOT/.run/compose"
mkdir -p "$HUBBUB_RUN"
DOCKER_ROOT="${HUBBUB_DOCKER_ROOT:-$HUBBUB_TOOLS/docker}"
export DOCKER_HOST="unix://$HUBBUB_RUN/docker.sock"
# docker-start.sh runs compose with these.
export DOCKER_COMPOSE
DOCKER_COMPOSE="$(scripts/tools.sh path pytools)/docker-compose"
export COMPOSE_FILE="docker-compose.yml:deploy/standins/compose.yml"
export COMPOSE_PROJECT_NAME="hubbub-e2e"
export HUBBUB_ENV_FILE="$HUBBUB_RUN/compose.env"
export HUBBUB_STANDINS="$HUBBUB_RUN/context"
HTTP_PORT="${HUBBUB_COMPOSE_HTTP_PORT:-18480}"
STORAGE_PORT="${HUBBUB_COMPOSE_STORAGE_PORT:-18490}"
t0=$SECONDS
step() { log "[compose $((SECONDS - t0))s] $*"; }

dockerd_up() {
  if pid_alive dockerd && docker version >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || die "dockerd is not installed (scripts/tools.sh installs docker.io)"
  mkdir -p "$DOCKER_ROOT" "$HUBBUB_RUN/exec"
  start_bg dockerd dockerd --data-root "$DOCKER_ROOT" --exec-root "$HUBBUB_RUN/exec" \
    --pidfile "$HUBBUB_RUN/dockerd.pid" -H "$DOCKER_HOST"
  local i
  for ((i = 0; i < 300; i++)); do
    docker version >/dev/null 2>&1 && return 0
    pid_alive dockerd || break
    sleep 0.1
  done
  die "dockerd did not start (see $HUBBUB_RUN/logs/dockerd.log)"
}

down() {
  if pid_alive dockerd; then
    scripts_compose down -v --remove-orphans >/dev/null 2>&1 || true
    stop_pids dockerd
  fi
}
scripts_compose() { [[ -f $HUBBUB_ENV_FILE ]] && "$DOCKER_COMPOSE" --env-file "$HUBBUB_ENV_FILE" "$@"; }

# debian:bookworm-slim, as the Dockerfiles name it, from Debian's mirror by debootstrap.
base_image() {
  docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/tools.sh installs it)"
  local rootfs="$HUBBUB_RUN/rootfs" mirror
  mirror=$({ grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true; } |
    awk '{print $2}' | { grep -v security || true; } | head -n1)
  log "debootstrap bookworm from ${mirror:=http://deb.debian.org/debian}"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$HUBBUB_RUN/logs/debootstrap.log" 2>&1 ||
    die "debootstrap failed (see $HUBBUB_RUN/logs/debootstrap.log)"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["/bin/bash"]' - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
}

# The build contexts: stripped copies of the binaries built on this machine.
contexts() {
  local ctx=$HUBBUB_STANDINS profile=${HUBBUB_PROFILE:-debug}
  rm -rf "$ctx" && mkdir -p "$ctx/servers" "$ctx/hubbub" "$ctx/web"
  local flag=()
  [[ $profile == release ]] && flag=(--release)
  cargo build --locked --quiet -p hubbub "${flag[@]}"
  web_client
  cp deploy/standins/Dockerfile.servers "$ctx/servers/"
  strip -o "$ctx/servers/tansu" "$(scripts/tools.sh path tansu)"
  strip -o "$ctx/servers/secantusd-rs" "$(scripts/tools.sh path secantus)"
  strip -o "$ctx/servers/s3s-fs" "$(scripts/tools.sh path s3s-fs)"
  cp deploy/standins/Dockerfile.hubbub "$ctx/hubbub/"
  strip -o "$ctx/hubbub/hubbub" "target/$profile/hubbub"
  cp deploy/standins/Dockerfile.web "$ctx/web/"
  cp deploy/nginx/docker.conf "$ctx/web/nginx.conf"
  cp -r web/dist "$ctx/web/dist"
}

# running: the names of the suite's running containers' services, one per line, sorted.
running() { scripts_compose ps --services --status running | sort; }

verbs_and_e2e() {
  local services
  services=$(scripts_compose config --services | sort)

  step "docker-start.sh build"
  ./docker-start.sh build >"$HUBBUB_RUN/logs/build.log" 2>&1 || die "build failed (see $HUBBUB_RUN/logs/build.log)"
  docker image inspect hubbub:local hubbub-web:local >/dev/null

  step "docker-start.sh start: $(echo "$services" | wc -l) services, healthy"
  ./docker-start.sh start >"$HUBBUB_RUN/logs/start.log" 2>&1 || {
    scripts_compose ps --all >&2
    die "start failed (see $HUBBUB_RUN/logs/start.log; ./docker-start.sh logs with the same settings)"
  }
  [[ $(running) == "$services" ]] || die "not every service runs after start: $(running | tr '\n' ' ')"

  step "docker-start.sh status"
  local status
  status=$(./docker-start.sh status)
  for s in $services; do grep -q "$COMPOSE_PROJECT_NAME-$s-1 .*(healthy)" <<<"$status" || die "status: $s is not healthy: $status"; done

  # Clients must reach nginx from many addresses, as real ones do (it places sockets on chat
  # nodes by address; the tests put two users on different nodes that way). Through a published
  # port every client is the bridge's one address, so the tests reach nginx on the suite's
  # network, from addresses added to the host's end of it (gone with the network).
  local net bridge nginx prefix i
  net="${COMPOSE_PROJECT_NAME}_default"
  bridge="br-$(docker network inspect -f '{{.Id}}' "$net" | cut -c1-12)"
  nginx=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$COMPOSE_PROJECT_NAME-nginx-1")
  prefix="${nginx%.*.*}.250"
  for ((i = 1; i <= 100; i++)); do ip addr add "$prefix.$i/32" dev "$bridge"; done
  # The tests find a socket's node in the chat nodes' logs.
  local tails=()
  for s in chat-1 chat-2 chat-3; do
    scripts_compose logs -f --no-log-prefix "$s" >"$HUBBUB_RUN/logs/$s.log" 2>&1 &
    tails+=($!)
  done

  step "end-to-end tests through the compose nginx ($nginx:8080, clients from $prefix.0/24)"
  # Tests that need the native stack's hands on processes (kill, SIGSTOP, its Redis, its nginx
  # log, node ports) stay with scripts/test.sh; these only speak HTTP and Socket.IO.
  local rc=0
  HUBBUB_URL="http://$nginx:8080" HUBBUB_E2E_CLIENT_NET="$prefix" HUBBUB_RUN="$HUBBUB_RUN" \
    HUBBUB_E2E_ADMIN="$E2E_ADMIN" HUBBUB_E2E_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" \
    SOCKETIO_CLIENT="$(scripts/tools.sh path socket.io-client)" PLAYWRIGHT_CORE="$(scripts/tools.sh path playwright-core)" \
    HUBBUB_E2E_REST_PER_MINUTE=3000 HUBBUB_E2E_UPLOAD_MAX_BYTES=2000000 HUBBUB_E2E_ORPHAN_SECS=8 \
    node --test --test-reporter=spec scripts/e2e/walking-skeleton.test.mjs scripts/e2e/groups.test.mjs \
    scripts/e2e/messaging.test.mjs scripts/e2e/admin.test.mjs scripts/e2e/avatars.test.mjs || rc=$?
  kill "${tails[@]}" 2>/dev/null || true
  [[ $rc == 0 ]] || die "end-to-end tests through the compose suite failed"

  step "docker-start.sh logs"
  local logs
  logs=$(timeout 5 ./docker-start.sh logs gateway 2>&1 || true)
  grep -q '"request_id"\|request_id=' <<<"$logs" || die "logs gateway shows no request: $(tail -n 5 <<<"$logs")"

  step "docker-start.sh stop, then start again: the data is kept"
  local login
  login=$(curl -fsS -H 'content-type: application/json' -d "{\"login\":\"$E2E_ADMIN\",\"password\":\"$E2E_ADMIN_PASSWORD\"}" \
    "http://127.0.0.1:$HTTP_PORT/api/v1/auth/login") || die "the administrator cannot log in"
  ./docker-start.sh stop >>"$HUBBUB_RUN/logs/start.log" 2>&1
  [[ -z $(running) ]] || die "still running after stop: $(running | tr '\n' ' ')"
  ./docker-start.sh start >>"$HUBBUB_RUN/logs/start.log" 2>&1 || die "start after stop failed (see $HUBBUB_RUN/logs/start.log)"
  local token groups
  token=$(sed -E 's/.*"accessToken":"([^"]+)".*/\1/' <<<"$login")
  # A token from before the restart still holds (its session is in MongoDB's volume), and the
  # groups the tests made are still there.
  groups=$(curl -fsS -H "authorization: Bearer $token" "http://127.0.0.1:$HTTP_PORT/api/v1/admin/groups?limit=5") ||
    die "after stop and start, the administrator's token or the groups are gone"
  grep -q '"id"' <<<"$groups" || die "after stop and start, no groups: $groups"

  step "docker-start.sh clean: containers and volumes gone"
  ./docker-start.sh clean >>"$HUBBUB_RUN/logs/start.log" 2>&1
  [[ -z $(scripts_compose ps --all -q) ]] || die "containers left after clean"
  [[ -z $(docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME") ]] || die "volumes left after clean"
}

if [[ ${1:-} == down ]]; then
  down
  exit 0
fi
[[ ${KEEP:-0} == 1 ]] || trap down EXIT

step "dockerd (data in $DOCKER_ROOT)"
dockerd_up
scripts_compose down -v --remove-orphans >/dev/null 2>&1 || true
base_image
step "build contexts and the stand-in servers image"
contexts
docker build -q -t hubbub-standins:local -f "$HUBBUB_STANDINS/servers/Dockerfile.servers" "$HUBBUB_STANDINS/servers" \
  >"$HUBBUB_RUN/logs/standins.log" 2>&1 || die "the stand-ins image did not build (see $HUBBUB_RUN/logs/standins.log)"

# docker-start.sh writes the secrets on its first verb; the tests add their administrator and ports.
rm -f "$HUBBUB_ENV_FILE"
./docker-start.sh status >/dev/null
E2E_ADMIN=e2e_admin
E2E_ADMIN_PASSWORD="admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
grep -q '^HUBBUB_TOKEN_SECRET=.\{64\}$' "$HUBBUB_ENV_FILE" || die "docker-start.sh wrote no token secret"
cat >>"$HUBBUB_ENV_FILE" <<EOF
HUBBUB_HTTP_PORT=$HTTP_PORT
HUBBUB_STORAGE_PORT=$STORAGE_PORT
HUBBUB_STORAGE_PUBLIC_URL=http://127.0.0.1:$STORAGE_PORT
HUBBUB_E2E_ADMIN=$E2E_ADMIN
HUBBUB_E2E_ADMIN_PASSWORD=$E2E_ADMIN_PASSWORD
EOF
verbs_and_e2e
step "the compose suite passed"
