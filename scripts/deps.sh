#!/usr/bin/env bash
# deps.sh — install what inficond needs on Debian 12, only when something is missing.
# Debian packages via apt-get (needs root), the web page's npm packages via npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc g++ make pkg-config
  libmicrohttpd-dev libjansson-dev libpq-dev libopenblas-dev libturbojpeg0-dev libtorch-dev
  libsodium-dev libarchive-dev libspng-dev libutf8proc-dev zlib1g-dev libcmocka-dev
  postgresql acl curl jq wrk openssl
  clang libclang-rt-14-dev
  dataset-fashion-mnist
  python3-torchvision  # the export scripts' tests (tests/api/model_scripts.test.mjs)
  chromium
  python3-torch python3-numpy python3-pil  # /usr/bin/python3's: tests/clip_vit, tests/api/teacher_forward.py, the bench peers
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere (e.g. NodeSource's nodejs, which bundles npm and
# conflicts with Debian's npm): only ask Debian for it when there is none at all.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

# npm packages (D3 for the page, playwright-core for the browser tests). The lock
# file pins them; node_modules/ and static/vendor/ are build outputs, never committed.
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
  if [ -f node_modules/d3/dist/d3.min.js ]; then
    mkdir -p static/vendor
    cmp -s node_modules/d3/dist/d3.min.js static/vendor/d3.min.js ||
      cp node_modules/d3/dist/d3.min.js static/vendor/d3.min.js
  fi
fi
