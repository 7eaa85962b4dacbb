#!/usr/bin/env bash
# The headless browser of the console's test: Debian's chromium and chromium-driver.
#   scripts/browser.sh install    install them with apt-get if missing (idempotent; root or sudo)
#   scripts/browser.sh check      exit 0 when /usr/bin/chromium and /usr/bin/chromedriver are there
set -euo pipefail

have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

install() {
  have && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing chromium and chromium-driver (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2
  have
}

case "${1:-}" in
  install) install ;;
  check) have ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
