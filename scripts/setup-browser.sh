#!/usr/bin/env bash
# Installs what the dashboard's browser tests (tests/ui_browser.rs) drive, idempotently:
# Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), with apt-get
# (and sudo when not root) only when one of them is missing.
set -euo pipefail

say() { printf 'setup-browser: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
    as_root apt-get update >/dev/null
    as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
