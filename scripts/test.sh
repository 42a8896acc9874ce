#!/usr/bin/env bash
# Runs the test suite with .venv's Python, installing first when .venv is missing or outdated.
# Extra arguments go to pytest; without paths it runs test/ (testpaths in pytest.ini), e.g.
#   scripts/test.sh -x test/test_media.py
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install.sh --if-needed
exec .venv/bin/python -m pytest -q "$@"
