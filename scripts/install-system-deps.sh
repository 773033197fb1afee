#!/usr/bin/env bash
# Debian packages the test suites need, installed only when missing:
# gcc/g++ and valgrind for the C ABI tests, python3-venv for the Python
# package and the benchmark, chromium + chromedriver for the consent page.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v valgrind >/dev/null || need+=(valgrind)
command -v node >/dev/null || need+=(nodejs npm)
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
# The consent-page tests drive headless Chromium over WebDriver.
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
