#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser (ui) suite, from Debian's packages; a no-op when both are
# installed. Needs root (CI runs as root); elsewhere install `chromium chromium-driver` yourself.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "!! chromium and chromium-driver are missing: run 'sudo apt-get install chromium chromium-driver'" >&2
  exit 1
fi
echo ">> installing chromium and chromium-driver (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
