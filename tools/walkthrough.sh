#!/usr/bin/env bash
# Runs README.md's five-minute walk-through as written, in a fresh folder,
# with the `confab` on PATH: the shell blocks between "## Five-minute
# walk-through" and "## Configuration", in order, in one shell. Only what a
# person does by hand is automated: `confab serve` and `confab client listen`
# run in the background (a terminal each in the README), `cargo install` is
# skipped (the caller puts confab on PATH), and the port is a free one
# instead of 8080 so that it can run beside other servers.
#
# Usage: tools/walkthrough.sh [README]   (exit 0 when every step worked)
set -euo pipefail
readme=$(realpath "${1:-$(dirname "$0")/../README.md}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CONFAB_HTTP_ADDR=127.0.0.1:$port

# The walk-through's shell blocks, with the background steps marked.
awk '
  /^## Five-minute walk-through/ { on = 1 }
  /^## Configuration/ { on = 0 }
  on && /^```sh/ { block = 1; next }
  on && /^```/ { block = 0; next }
  on && block { print }
' "$readme" | sed \
  -e "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" \
  -e 's/^cargo install .*/: skipped, confab is on PATH/' \
  -e 's/^confab serve$/confab serve > serve.log 2>\&1 \& wait_up/' \
  -e 's/^\(confab client listen .*\)$/\1 > listen.log 2>\&1 \& wait_synced/' > steps.sh

wait_up() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" > /dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat serve.log >&2; return 1
}
wait_synced() {
  for _ in $(seq 100); do
    grep -q '"synced"' listen.log 2> /dev/null && return 0
    sleep 0.1
  done
  echo "the listener did not log in:" >&2; cat listen.log >&2; return 1
}

echo "== running $(grep -c . steps.sh) lines of the walk-through on port $port in $work"
# shellcheck disable=SC1091
source ./steps.sh > steps.out 2>&1 || { cat steps.out; echo "a step failed" >&2; exit 1; }

# What the walk-through says bob's listener prints, in order of appearance.
sleep 1
missing=0
for want in '"hello bob"' '"synced"' 'are you there?' '"refresh"' '"created"' 'hi team' \
  'hello from wildfire' 'hello from leancloud' '"kicked"'; do
  grep -qF "$want" listen.log || { echo "bob's listener did not print $want" >&2; missing=1; }
done
for want in '"bob":1' '"bob":"online"' 'muted' '"share-secret"' '"recalled":"yes"' 'Expires=' '"code":0' \
  '"operator":"admin"' '"username":"bob"'; do
  grep -qF "$want" steps.out || { echo "the walk-through's output has no $want" >&2; missing=1; }
done
if [ "$missing" = 1 ]; then
  echo "--- steps output"; cat steps.out; echo "--- listener"; cat listen.log; exit 1
fi
echo "walk-through: every step worked"
