#!/usr/bin/env bash
# End-to-end tests of the egress crate: a real mediasoup worker and producer,
# GStreamer, and a local nginx-rtmp (with TLS in front for RTMPS) started by
# each test on free ports; ffprobe checks what a player receives. They are
# the #[ignore]d tests of the one integration binary, egress/tests/e2e/
# (set-up from podium-testkit: testkit/nginx-rtmp.conf, testkit/ffprobe.json).
#
#   egress/run-e2e.sh            all of them (about 2 minutes)
#   egress/run-e2e.sh passthrough   one module (egress/tests/e2e/<name>.rs)
#   EGRESS_TEST_LOG=1 egress/run-e2e.sh   with the egress's log lines
#
# Needs what `scripts/setup --test` installs: nginx, libnginx-mod-rtmp,
# libnginx-mod-stream, ffmpeg (ffprobe), the GStreamer plugins.
# Every nginx and ffprobe a test starts dies with it (PR_SET_PDEATHSIG), even
# if the test process is killed.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in nginx ffprobe gst-inspect-1.0; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for module in ngx_rtmp_module ngx_stream_module; do
  [ -f "/usr/lib/nginx/modules/$module.so" ] || missing+=("$module")
done
if command -v gst-inspect-1.0 >/dev/null; then
  for element in rtpbin rtmp2sink flvmux x264enc avenc_aac vp8dec vp8enc opusenc opusdec rtph264depay mp4mux filesink compositor; do
    gst-inspect-1.0 "$element" >/dev/null 2>&1 || missing+=("gstreamer:$element")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-e2e: missing ${missing[*]} (run scripts/setup --test)" >&2
  exit 1
fi

# A module name selects its tests: `passthrough` runs `passthrough::*` (exact
# names: libtest filters by substring, and `start::` is in `ingest_restart::`).
target=()
filters=()
if [ $# -gt 0 ]; then
  target=(--test e2e)
  listed=$(cargo test -q -p podium-egress --test e2e -- --ignored --list 2>/dev/null | sed -n 's/: test$//p')
  for name in "$@"; do
    while IFS= read -r test; do
      [ -n "$test" ] && filters+=("$test")
    done < <(grep "^$name::" <<<"$listed" || true)
  done
  [ ${#filters[@]} -gt 0 ] || { echo "run-e2e: no end-to-end test in module(s) $*" >&2; exit 1; }
  filters+=(--exact)
fi

# One test at a time: each runs a live encode, and the machine may be small.
# --nocapture shows the figures the tests print (ffprobe results, timings);
# EGRESS_TEST_LOG=1 adds the egress's own log lines.
exec cargo test -p podium-egress "${target[@]}" -- --ignored --test-threads=1 --nocapture "${filters[@]}"
