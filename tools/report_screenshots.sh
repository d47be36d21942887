#!/usr/bin/env bash
# Screenshots of an HTML report in headless Chromium, to look at the page as a browser lays it
# out: a wide (1280 px) and a narrow (420 px, phone-sized) PNG. A dev check only; CI does not
# install Chromium and no test depends on it (Debian: apt-get install -y chromium).
#   tools/report_screenshots.sh REPORT.html [OUT_PREFIX] [HEIGHT]
# writes OUT_PREFIX-wide.png and OUT_PREFIX-narrow.png (default prefix: /tmp/<report's folder>).
set -euo pipefail
report=${1:?usage: tools/report_screenshots.sh REPORT.html [OUT_PREFIX] [HEIGHT]}
[ -f "$report" ] || { echo "no such file: $report" >&2; exit 1; }
abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
prefix=${2:-/tmp/$(basename "$(dirname "$abs")")}
height=${3:-3000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found (apt-get install -y chromium)" >&2; exit 1; }
for shot in "wide 1280" "narrow 420"; do
  set -- $shot
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot="$prefix-$1.png" --window-size="$2,$height" "file://$abs" 2>/dev/null
  echo "$prefix-$1.png"
done
