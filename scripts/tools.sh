#!/usr/bin/env bash
# Installs the servers and clients hubbub's tests and local stack need, once, into a cache outside
# the repository ($HUBBUB_TOOLS/<name>-<version>/). A second run finds them and does nothing.
#   scripts/tools.sh            install everything missing
#   scripts/tools.sh path NAME  print the binary of NAME (tansu | secantus | s3s-fs)
set -euo pipefail
source "$(dirname "$0")/common.sh"

tansu_bin() { echo "$HUBBUB_TOOLS/tansu-$TANSU_VERSION/bin/tansu"; }
secantus_bin() { echo "$HUBBUB_TOOLS/secantus-mdb-$SECANTUS_VERSION/bin/secantusd-rs"; }
s3s_bin() { echo "$HUBBUB_TOOLS/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"; }
socketio_dir() { echo "$HUBBUB_TOOLS/socket.io-client-$SOCKETIO_CLIENT_VERSION"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# cargo_tool DIR BIN ARGS...: cargo install into DIR unless DIR/bin/BIN exists.
cargo_tool() {
  local dir=$1 bin=$2; shift 2
  [[ -x $dir/bin/$bin ]] && return 0
  log "building $(basename "$dir") (cached in $dir; only the first run pays this)"
  local t0=$SECONDS
  # A persistent target dir lets an interrupted build resume; it is removed once installed.
  local build="$HUBBUB_TOOLS/.build/$(basename "$dir")"
  CARGO_TARGET_DIR="$build" cargo install "$@" --root "$dir.partial" --quiet
  rm -rf "$dir" && mv "$dir.partial" "$dir" && rm -rf "$build"
  log "built $(basename "$dir") in $((SECONDS - t0))s"
}

install_all() {
  command -v apt-get >/dev/null && apt_install cmake nginx
  mkdir -p "$HUBBUB_TOOLS"
  cargo_tool "$(dirname "$(dirname "$(s3s_bin)")")" s3s-fs \
    s3s-fs --version "$S3S_FS_VERSION" --locked --features binary
  # A debug build of tansu costs a third of a release build and is fast enough for tests and
  # a local stack; HUBBUB_TANSU_RELEASE=1 builds the release one.
  local tansu_profile=(--debug)
  [[ ${HUBBUB_TANSU_RELEASE:-0} == 1 ]] && tansu_profile=()
  cargo_tool "$(dirname "$(dirname "$(tansu_bin)")")" tansu \
    tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql "${tansu_profile[@]}"
  # secantus-mdb is a beta that declares a newer compiler than ours; the pin is known to build.
  cargo_tool "$(dirname "$(dirname "$(secantus_bin)")")" secantusd-rs \
    secantus-mdb --version "$SECANTUS_VERSION" --ignore-rust-version
  local sio
  sio=$(socketio_dir)
  if [[ ! -d $sio/node_modules/socket.io-client ]]; then
    log "npm install socket.io-client@$SOCKETIO_CLIENT_VERSION"
    mkdir -p "$sio"
    (cd "$sio" && echo '{"private":true}' >package.json &&
      npm install --silent --no-audit --no-fund "socket.io-client@$SOCKETIO_CLIENT_VERSION" >/dev/null)
  fi
}

case "${1:-install}" in
  install) install_all ;;
  path)
    case "${2:-}" in
      tansu) tansu_bin ;; secantus) secantus_bin ;; s3s-fs) s3s_bin ;; socket.io-client) socketio_dir ;;
      *) die "unknown tool '${2:-}'" ;;
    esac ;;
  *) die "usage: $0 [install | path NAME]" ;;
esac
