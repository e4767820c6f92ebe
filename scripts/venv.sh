#!/usr/bin/env bash
# Create or update the project virtualenv in .venv from requirements.lock (exact pins).
# Idempotent: skips pip when the lock file and pyproject have not changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-stamp"
want="$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "venv: creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "venv: up to date"
  exit 0
fi
echo "venv: installing pinned dependencies (requirements.lock)"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/pip" install -q -c "$ROOT/requirements.lock" -r "$ROOT/requirements.lock"
"$VENV/bin/pip" install -q -c "$ROOT/requirements.lock" --no-deps -e "$ROOT"
# Build the postcode index once now, so the router's first start is fast (cached in .dev/cache).
(cd "$ROOT" && "$VENV/bin/python" -c "from services.router.adapters.postcode_data import load_postcode_index; load_postcode_index()")
echo "$want" > "$STAMP"
echo "venv: ready"
