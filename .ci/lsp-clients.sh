#!/usr/bin/env bash
# `wflow lsp` against the client capabilities recorded from real editors (VS Code, Neovim,
# Emacs) that pytest-lsp ships: tests/lsp-clients. Builds nothing: runs $WFLOW_BIN (a relative
# path is taken from the repo root), by default target/debug/wflow.
# Installs the pinned, hashed requirements into a throwaway venv; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

WFLOW_BIN="${WFLOW_BIN:-target/debug/wflow}"
case "$WFLOW_BIN" in /*) ;; *) WFLOW_BIN="$PWD/$WFLOW_BIN" ;; esac
if [ ! -x "$WFLOW_BIN" ]; then
  echo "error: no wflow binary at $WFLOW_BIN (cargo build -p wflow, or set WFLOW_BIN)" >&2
  exit 2
fi
export WFLOW_BIN

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: tests/lsp-clients needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
  exit 2
fi

VENV_DIR="$(mktemp -d "${TMPDIR:-/tmp}/wflow-lsp-clients.XXXXXX")"
trap 'rm -rf "$VENV_DIR"' EXIT
"$PYTHON" -m venv "$VENV_DIR/venv"
"$VENV_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes --only-binary=:all: -r tests/lsp-clients/requirements.txt

# No .pytest_cache or __pycache__ in the work tree.
PYTHONDONTWRITEBYTECODE=1 "$VENV_DIR/venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/lsp-clients "$@"
