#!/usr/bin/env bash
# Install mentorhub into a Python environment that every account can run.
#   ./install.sh          the platform (Python packages and the proxy)
#   ./install.sh --test   the platform and the test tools (as root also Debian's chromium)
# Learners' servers run as their own unix accounts, so the environment must be readable
# and executable by them: it is made from a system Python (not one under a private home),
# and where this checkout cannot be reached by other accounts it lives in /opt instead.
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

say() { printf 'install: %s\n' "$*" >&2; }

pick_python() {
  local p
  for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3 || true)"; do
    [ -x "$p" ] || continue
    "$p" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || continue
    if [ "$(id -u)" = 0 ] && ! runuser -u nobody -- "$p" -c '' 2>/dev/null; then
      continue  # e.g. a Python under root's 0700 home: other accounts cannot run it
    fi
    echo "$p"; return
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "no usable system Python 3.11+; installing Debian's python3-venv"
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    echo /usr/bin/python3; return
  fi
  say "need Python 3.11+ with the venv module"; exit 1
}

python=$(pick_python)
venv="$here/.venv"
if [ "$(id -u)" = 0 ] && ! runuser -u nobody -- test -r "$here/pyproject.toml" 2>/dev/null; then
  # this checkout is private (e.g. under /root): keep the environment where users can reach it
  real="/opt/mentorhub/venv-$(printf '%s' "$here" | sha1sum | cut -c1-12)"
  mkdir -p /opt/mentorhub
  [ -L "$venv" ] || rm -rf "$venv"
  ln -sfn "$real" "$venv"
  venv_dir="$real"
else
  venv_dir="$venv"
fi
if [ -f "$venv_dir/pyvenv.cfg" ] && ! grep -q "^home = $(dirname "$python")\$" "$venv_dir/pyvenv.cfg"; then
  say "recreating $venv_dir (it was made from another Python)"
  rm -rf "$venv_dir"
fi
[ -x "$venv_dir/bin/python" ] || { say "creating $venv_dir from $python"; "$python" -m venv "$venv_dir"; }
"$venv_dir/bin/python" -m pip install -q --upgrade "pip>=24"
say "installing mentorhub$extra"
"$venv_dir/bin/python" -m pip install -q "$here$extra"

# JupyterHub's proxy is a Node.js program
chp="$venv_dir/share/mentorhub/node/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$chp" ]; then
  command -v npm >/dev/null || { say "need Node.js and npm for configurable-http-proxy"; exit 1; }
  say "installing configurable-http-proxy"
  npm install -s --no-audit --no-fund --prefix "$venv_dir/share/mentorhub/node" configurable-http-proxy@4 >/dev/null
fi
ln -sfn "$chp" "$venv_dir/bin/configurable-http-proxy"

if [ -n "$extra" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser tests"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    say "the browser tests need /usr/bin/chromium (Debian package chromium)"; exit 1
  fi
fi
say "ready: $venv"
