# shellcheck shell=bash
# Sourced by the scripts: make sure .venv exists and holds the pinned test requirements.
# The interpreter comes from $PYTHON, else scripts/python314 (python3.14 on PATH, else
# one it provides: uv's managed Python, else Debian's packages unpacked in ~/.cache).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha"
want=$(sha256sum requirements_test.txt scripts/_venv.sh | sha256sum | cut -d' ' -f1)
# A venv whose interpreter went away (cache removed) is rebuilt.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
  echo "setup: $VENV does not run any more; recreating it" >&2
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  setup_start=$SECONDS
  if [ ! -x "$VENV/bin/python" ]; then
    PY="${PYTHON:-$("$ROOT/scripts/python314")}"
    echo "setup: creating .venv with $PY" >&2
    "$PY" -m venv "$VENV"
  fi
  echo "setup: installing requirements_test.txt (Home Assistant and test tools, ~300 MB)" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements_test.txt
  echo "$want" >"$STAMP"
  echo "setup: .venv ready in $((SECONDS - setup_start)) s" >&2
fi
export PATH="$VENV/bin:$PATH"

# Run-time packages of HA's frontend and the components scripts/develop loads
# (scripts/requirements_develop.txt); scripts/setup and scripts/develop call this.
develop_requirements() {
  local file="$ROOT/scripts/requirements_develop.txt" stamp="$VENV/.develop.sha" want_dev
  want_dev=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$want_dev" ] && return 0
  if ! command -v c++ >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: apt-get install g++ (pymicro-vad and pyspeex-noise build from source on 3.14)" >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++; } >&2
    else
      echo "setup: no C++ compiler: install g++ so pymicro-vad and pyspeex-noise (voice pipeline) can build" >&2
      return 1
    fi
  fi
  local start=$SECONDS
  echo "setup: installing scripts/requirements_develop.txt (HA frontend and run-time packages)" >&2
  if ! python -m pip install -q --disable-pip-version-check -r "$file"; then
    echo "setup: could not install them (a .venv made from an interpreter without usable" >&2
    echo "       headers cannot build pymicro-vad): rm -rf .venv && scripts/setup" >&2
    return 1
  fi
  echo "$want_dev" >"$stamp"
  echo "setup: run-time packages ready in $((SECONDS - start)) s" >&2
}
