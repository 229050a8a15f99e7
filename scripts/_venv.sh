# Sourced by the scripts: make sure .venv exists and holds the pinned test requirements.
# The interpreter comes from $PYTHON, else python3.14 on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha"
want=$(cat requirements_test.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    PY="${PYTHON:-$(command -v python3.14 || true)}"
    if [ -z "$PY" ]; then
      echo "No Python 3.14: set \$PYTHON or put python3.14 on PATH" >&2
      exit 1
    fi
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements_test.txt
  echo "$want" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"
