#!/usr/bin/env bash
# Validates the deployment files without a cluster or an engine: every Dockerfile with hadolint,
# docker-compose.yml with `docker compose config` (and that it refuses to start without its
# secrets), and every Kubernetes overlay rendered by `kubectl kustomize` against the Kubernetes
# schemas in strict mode (an unknown field fails). Part of scripts/test.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$HUBBUB_ROOT"

py=$(scripts/tools.sh path pytools)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for f in deploy/Dockerfile* deploy/standins/Dockerfile.*; do
  "$py/hadolint" --config .hadolint.yaml "$f"
  log "hadolint $f: clean"
done

# The secrets come from the environment or .env; without them compose must refuse.
if (cd "$out" && env -u HUBBUB_TOKEN_SECRET "$py/docker-compose" -f "$HUBBUB_ROOT/docker-compose.yml" \
  --project-directory "$out" config -q) 2>"$out/err"; then
  die "docker-compose.yml starts without HUBBUB_TOKEN_SECRET"
fi
grep -q "set HUBBUB_" "$out/err" || die "docker-compose.yml: unexpected error: $(cat "$out/err")"
HUBBUB_TOKEN_SECRET=t HUBBUB_INTERNAL_SECRET=i HUBBUB_S3_ACCESS_KEY=a HUBBUB_S3_SECRET_KEY=s \
  "$py/docker-compose" --project-directory "$out" -f docker-compose.yml config -q
log "docker-compose.yml: valid; refuses to start without its secrets"

k8s_version=1.30.0
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$out/$name.yaml"
  "$py/kubernetes-validate" --strict --quiet -k "$k8s_version" "$out/$name.yaml" >"$out/$name.log" 2>&1 ||
    { grep -E '^(ERROR|WARN)' "$out/$name.log" >&2 || cat "$out/$name.log" >&2; die "deploy/k8s/overlays/$name does not validate"; }
  # Secrets are referenced, never written into the manifests.
  ! grep -q '^kind: Secret$' "$out/$name.yaml" || die "deploy/k8s/overlays/$name holds a Secret"
  log "k8s $name: $(grep -c '^kind:' "$out/$name.yaml") objects valid against Kubernetes $k8s_version (strict)"
done
