#!/usr/bin/env bash
# Headless Chromium and its driver for the browser test (tests/test_browser.py); idempotent.
set -euo pipefail
missing=()
for p in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
dpkg-query -W -f='chromium ${Version}\n' chromium  # the launcher's own --version trips on its memory check's shell test
chromedriver --version
