#!/usr/bin/env bash
# The code gates, with .venv's pinned tools (installing first when .venv is missing or outdated):
#
#   ruff check .            lint (the rules in pyproject.toml)
#   ruff format --check .   formatting (`.venv/bin/ruff format .` applies it)
#   mypy                    types: vda_ros, strict for vda_ros.model and vda_ros.core (pyproject.toml)
#   lint-imports            the layer contracts (pyproject.toml): the model and the core import no ROS, ...
#
# .ci/run runs it before the tests; run it before a commit (or let pre-commit run the same tools).
# Every gate runs; the exit status is non-zero if any of them found something.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install.sh --if-needed || exit

BIN=.venv/bin
# lint-imports imports the package: this checkout's, whatever .venv's editable install points at.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

failed=()
gate() {
    local name=$1 started=$SECONDS
    shift
    echo "==> $name"
    if ! "$@"; then
        failed+=("$name")
    fi
    echo "    ($name: $((SECONDS - started)) s)"
}

gate "ruff check" "$BIN/ruff" check .
gate "ruff format" "$BIN/ruff" format --check .
gate "mypy" "$BIN/mypy"
gate "lint-imports" "$BIN/lint-imports" --no-logo

if ((${#failed[@]})); then
    echo "check.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "check.sh: all gates passed"
