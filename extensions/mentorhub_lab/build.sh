#!/usr/bin/env bash
# Rebuild labextension/ (the prebuilt JupyterLab extension that mentorhub installs and that
# is committed) from src/ and style/. For developers only: install.sh and CI never run it.
#   extensions/mentorhub_lab/build.sh            uses ../../.venv (or $MENTORHUB_VENV)
# Needs Node.js (^20.19 or >=22.12, for rspack) and npm; installs the exact versions
# pinned in package-lock.json into node_modules/ (ignored by git).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${MENTORHUB_VENV:-$(cd "$here/../.." && pwd)/.venv}
[ -x "$venv/bin/jupyter" ] || { echo "build.sh: no jupyter in $venv (run ./install.sh first)" >&2; exit 1; }
# `jupyter labextension build` runs `jupyter-builder` from PATH: use the venv's
export PATH="$venv/bin:$PATH"
cd "$here"
npm ci --no-audit --no-fund
rm -rf lib tsconfig.tsbuildinfo labextension
npx tsc
jupyter labextension build .   # production build: minified, no source maps
echo "build.sh: rebuilt $here/labextension; reinstall mentorhub to use it" >&2
