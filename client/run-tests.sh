#!/usr/bin/env bash
# The browser client's tests: builds client/dist, then runs the end-to-end
# suite in Debian's Chromium against the real server (target/debug/podium),
# which the tests start on free ports and stop. Screenshots, figures and the
# server logs go to test-artifacts/ at the repository root.
#
# Needs: `npm ci` done in client/, `cargo build -p podium-server` done,
# /usr/bin/chromium, nginx with libnginx-mod-rtmp and ffprobe (scripts/setup
# --test). Exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$here"

fail() { echo "client/run-tests.sh: $*" >&2; exit 2; }
[ -d node_modules/mediasoup-client ] || fail "run 'npm ci' in client/ first"
[ -x "${PODIUM_BIN:-$root/target/debug/podium}" ] || fail "build the server first: cargo build -p podium-server"
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || fail "Chromium is missing: scripts/setup --test"
# The restream test pushes to a local nginx-rtmp and plays it back with ffprobe.
command -v "${NGINX_PATH:-nginx}" >/dev/null && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] \
  || fail "nginx with the RTMP module is missing: scripts/setup --test"
command -v ffprobe >/dev/null || fail "ffprobe is missing: scripts/setup --test"

npm run --silent build
# One file at a time: each runs a server and a browser, and the machine may have 2 cores.
node --test --test-concurrency=1 --test-reporter=spec tests/
