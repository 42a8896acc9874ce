#!/usr/bin/env bash
# Installs vda_ros and its pinned dependencies into .venv in the repository root.
#
#   scripts/install.sh              create/refresh .venv: upgrade pip, install requirements.txt
#                                   (the one place versions are pinned), then vda_ros in editable mode
#   scripts/install.sh --if-needed  do that only when .venv is missing or requirements.txt or
#                                   setup.py changed since the last install (what the tests use)
#
# PYTHON selects the interpreter that creates .venv (default python3, must be >= 3.10).
# Both forms also install Debian's chromium and chromium-driver (the browser test of vda-app)
# when they are missing, as root through apt-get; nothing is done when they are present.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.vda_install_stamp

# The stamp records which inputs the current .venv was installed from.
install_inputs_hash() {
    cat requirements.txt setup.py | sha256sum | cut -d' ' -f1
}

is_up_to_date() {
    [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$(install_inputs_hash)" ]]
}

check_python() {
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "install.sh: $PYTHON is missing or older than 3.10; set PYTHON=/path/to/python3.10+" >&2
        exit 1
    fi
}

install() {
    if [[ ! -x $VENV/bin/python ]]; then
        check_python
        echo "==> creating $VENV with $("$PYTHON" --version)"
        "$PYTHON" -m venv "$VENV"
    fi
    echo "==> installing pinned dependencies (requirements.txt) into $VENV"
    "$VENV/bin/python" -m pip install --upgrade pip
    "$VENV/bin/python" -m pip install -r requirements.txt
    echo "==> installing vda_ros (editable)"
    "$VENV/bin/python" -m pip install --no-deps -e .
    install_inputs_hash > "$STAMP"
}

# The web app's browser test drives a real headless Chromium through chromedriver.
install_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "install.sh: chromium and chromedriver are missing and cannot be installed here (needs root and apt-get);" >&2
        echo "install.sh: install them (Debian: apt-get install chromium chromium-driver) for the web app's browser test" >&2
        return 0
    fi
    echo "==> installing chromium and chromium-driver (apt-get)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core
}

install_browser
if [[ ${1:-} == --if-needed ]] && is_up_to_date; then
    exit 0
fi
install
