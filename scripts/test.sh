#!/usr/bin/env bash
# Runs the test suite with .venv's Python, installing first when .venv is missing or outdated.
# Extra arguments go to pytest; without paths it runs test/ (testpaths in pytest.ini), e.g.
#   scripts/test.sh -x test/io/test_media.py
#   scripts/test.sh --quick            # the quick set: no ROS, nothing slow (-m "not ros and not slow"), < 90 s
#   scripts/test.sh -m ros             # only the tests that start rclpy or ROS nodes (markers: pytest.ini)
#   scripts/test.sh --variant jazzy test/nodes/test_video_source.py   # in .venv-jazzy (scripts/install.sh --variant)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv
INSTALL_ARGS=(--if-needed)
if [[ ${1:-} == --variant ]]; then
    VENV=.venv-${2:?--variant needs a name}
    INSTALL_ARGS+=(--variant "$2")
    shift 2
fi
if [[ ${1:-} == --quick ]]; then
    shift
    set -- -m "not ros and not slow" "$@"
fi
scripts/install.sh "${INSTALL_ARGS[@]}"
exec "$VENV/bin/python" -m pytest -q "$@"
