#!/usr/bin/env bash
# Runs schemathesis against each dialect's OpenAPI document, as served by a
# confab started here in a fresh folder: a bounded number of generated
# requests per operation, checking that none gets a 5xx and that every
# response matches its documented schema (the vendor's error bodies).
#
# Usage: tests/openapi/run.sh [path to confab] [examples per operation]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
confab=${1:-$here/../../target/debug/confab}
examples=${2:-${CONFAB_OPENAPI_EXAMPLES:-20}}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
export CONFAB_WILDFIRE_SECRET=openapi-wildfire-secret
CONFAB_HTTP_ADDR=127.0.0.1:$port CONFAB_DATA_DIR=$work/data \
  CONFAB_CLIENT_ID=openapi-id CONFAB_CLIENT_SECRET=openapi-secret \
  CONFAB_LEANCLOUD_APP_ID=openapi-lc-id CONFAB_LEANCLOUD_APP_KEY=openapi-lc-key \
  CONFAB_LEANCLOUD_MASTER_KEY=openapi-lc-master CONFAB_CONSOLE_PASSWORD=openapi-console-pw \
  RUST_LOG=warn "$confab" serve > "$work/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.1; done

token=$(curl -s -X POST "$base/demo/chat/token" -H 'Content-Type: application/json' \
  -d '{"grant_type":"client_credentials","client_id":"openapi-id","client_secret":"openapi-secret"}' |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
# Some users and a group, so calls that name them reach more than a 404.
curl -s -X POST "$base/demo/chat/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '[{"username":"alice","password":"alice-pw"},{"username":"bob","password":"bob-pw"}]' > /dev/null

cat > "$work/easemob.toml" <<TOML
[parameters]
"path.org" = "demo"
"path.app" = "chat"
"path.username" = "alice"
"path.owner" = "alice"
"path.other" = "bob"
TOML
: > "$work/plain.toml"

run() {
  local dialect=$1 config=$2; shift 2
  echo "== schemathesis: $dialect ($examples examples per operation)"
  st --config-file "$config" run "$base/openapi/$dialect.json" -u "$base" "$@" \
    -n "$examples" -c not_a_server_error,response_schema_conformance \
    --phases examples,fuzzing --generation-deterministic --no-color --request-timeout 10 \
    2>&1 | sed -n '/^=* SUMMARY/,$p;/FAILURES/,/SUMMARY/p'
  return "${PIPESTATUS[0]}"
}

status=0
for dialect in easemob wildfire leancloud; do
  curl -sf "$base/openapi/$dialect.json" -o "$work/$dialect.json"
  python3 -c "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('$dialect.json: valid OpenAPI 3.1')" "$work/$dialect.json" || status=1
done
run easemob "$work/easemob.toml" -H "Authorization: Bearer $token" || status=1
run leancloud "$work/plain.toml" -H "X-LC-Id: openapi-lc-id" -H "X-LC-Key: openapi-lc-master,master" || status=1
SCHEMATHESIS_HOOKS=wildfire_hooks PYTHONPATH=$here run wildfire "$work/plain.toml" || status=1
if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked:" >&2; grep -B2 -A5 panicked "$work/serve.log" >&2; status=1
fi
exit $status
