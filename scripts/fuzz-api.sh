#!/usr/bin/env bash
# Fuzzes the HTTP API of a running stack with schemathesis, from the OpenAPI document the
# gateway generates: every operation, examples, edge cases and random inputs (valid and not),
# signed in. Fails on a 5xx, a status, header, content type or body the document does not
# allow, an operation that accepts what the document forbids, or one that ignores a missing
# token. Prints what it ran. Part of scripts/test.sh.
#   HUBBUB_URL          the gateway (default http://127.0.0.1:3000): the document describes it;
#                       nginx in front refuses TRACE itself, without the Allow header RFC 9110
#                       asks for, which is nginx's answer and not the API's
#   HUBBUB_FUZZ_LOGIN, HUBBUB_FUZZ_PASSWORD   an account to fuzz as (an administrator reaches the
#                       admin routes too); default: a fresh account
#   HUBBUB_FUZZ_SECONDS time budget (default 60)
#   HUBBUB_FUZZ_SEED    a seed, for a run that does the same again (scripts/test.sh pins one, so
#                       CI repeats a run that passed); unset or empty, each run explores anew
# scripts/fuzz/schemathesis.toml says where a 400 to schema-valid input is the design.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$HUBBUB_ROOT"

url=${HUBBUB_URL:-http://127.0.0.1:3000}
py=$(scripts/tools.sh path pytools)
out="$HUBBUB_RUN/schemathesis"
rm -rf "$out" && mkdir -p "$out"

post() { curl -fsS -H 'content-type: application/json' -d "$2" "$url/api/v1$1"; }
if [[ -n ${HUBBUB_FUZZ_LOGIN:-} ]]; then
  tokens=$(post /auth/login "{\"login\":\"$HUBBUB_FUZZ_LOGIN\",\"password\":\"$HUBBUB_FUZZ_PASSWORD\"}")
else
  name="fuzz_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  tokens=$(post /auth/register "{\"username\":\"$name\",\"email\":\"$name@example.test\",\"password\":\"fuzzing-password\"}")
fi
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])' <<<"$tokens")

# Deleting the account, changing its password or logging it out would sign the fuzzer out for
# the rest of the run: those three run unauthenticated only (as every operation also does).
log "schemathesis against $url/api/v1/openapi.json for ${HUBBUB_FUZZ_SECONDS:-60}s"
set +e
# Run from the output directory: schemathesis keeps a cache (.schemathesis/) where it runs.
(cd "$out" && "$py/schemathesis" --config-file "$HUBBUB_ROOT/scripts/fuzz/schemathesis.toml" run "$url/api/v1/openapi.json" \
  --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --phases examples,coverage,fuzzing \
  --max-time "${HUBBUB_FUZZ_SECONDS:-60}" \
  ${HUBBUB_FUZZ_SEED:+--seed "$HUBBUB_FUZZ_SEED"} \
  --max-redirects 0 \
  --request-timeout 10 \
  --exclude-operation-id deleteMe --exclude-operation-id changePassword --exclude-operation-id logout \
  --suppress-health-check all \
  --no-color \
  --report junit --report-dir "$out") >"$out/run.log" 2>&1
rc=$?
set -e
# The summary: operations, test cases, and any failure with how to reproduce it.
sed -n '/SUMMARY/,$p' "$out/run.log" | grep -v '^\s*$' | head -60 >&2 || tail -40 "$out/run.log" >&2
[[ $rc -eq 0 ]] || { sed -n '/FAILURES/,$p' "$out/run.log" | head -150 >&2; die "schemathesis found failures (exit $rc; all of it in $out/run.log)"; }
log "schemathesis: no server errors, every response as the document says"
