#!/usr/bin/env bash
# Browser tests of the web pages: Debian's chromium (installed if missing) driven by
# playwright-core from npm (`npm ci`; it never downloads a browser). Usage:
#   tests/web/run.sh [path/to/cofferd]   (screenshots in $WEB_SHOTS, default tests/web/screenshots)
set -euo pipefail
BIN=$(realpath "${1:-$(dirname "$0")/../../target/debug/cofferd}")
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node link.mjs "$BIN"
node app.mjs "$BIN"
node device.mjs "$BIN"
