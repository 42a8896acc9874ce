#!/usr/bin/env bash
# Installs vda_ros and its pinned dependencies into .venv in the repository root.
#
#   scripts/install.sh              create/refresh .venv: upgrade pip, install requirements.txt
#                                   (the one place versions are pinned), then vda_ros in editable mode
#   scripts/install.sh --if-needed  do that only when .venv is missing or requirements.txt or
#                                   setup.py changed since the last install (what the tests use)
#   scripts/install.sh --variant V  the same into .venv-V, with requirements.txt changed by
#                                   requirements/V.txt (a ROS distribution's NumPy, OpenCV, rclpy,
#                                   Python): jazzy, humble; combines with --if-needed
#
# PYTHON selects the interpreter that creates the venv (default python3, must be >= 3.10; for a
# variant naming a Python version, python3.X on PATH or from pyenv).
# Every form also installs Debian's chromium and chromium-driver (the browser test of vda-app)
# when they are missing, as root through apt-get; nothing is done when they are present.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IF_NEEDED=false
VARIANT=
while (($#)); do
    case $1 in
        --if-needed) IF_NEEDED=true ;;
        --variant) VARIANT=${2:?--variant needs a name}; shift ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

VENV=.venv
REQUIREMENTS=requirements.txt
if [[ -n $VARIANT ]]; then
    VARIANT_FILE=requirements/$VARIANT.txt
    [[ -f $VARIANT_FILE ]] || { echo "install.sh: no variant $VARIANT_FILE" >&2; exit 2; }
    VENV=.venv-$VARIANT
    REQUIREMENTS=$VENV/requirements.txt
fi
STAMP=$VENV/.vda_install_stamp

# The stamp records which inputs the current venv was installed from (package.xml: the version setup.py reads).
install_inputs_hash() {
    cat requirements.txt setup.py package.xml ${VARIANT:+"$VARIANT_FILE"} | sha256sum | cut -d' ' -f1
}

# The interpreter a variant asks for: PYTHON when set, else the first python3.X that runs among
# the one on PATH (a pyenv shim may be there without working) and pyenv's installed versions.
choose_python() {
    local version candidate
    version=$(python3 scripts/compose_requirements.py --python "$VARIANT_FILE")
    if [[ -z $version || -n ${PYTHON:-} ]]; then
        return
    fi
    for candidate in "$(command -v "python$version" || true)" \
                     "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
        if [[ -x $candidate ]] &&
            "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
            PYTHON=$candidate
            return
        fi
    done
    echo "install.sh: variant $VARIANT needs Python $version, but no working python$version is on PATH or" \
         "under ${PYENV_ROOT:-$HOME/.pyenv}/versions; install it (e.g. pyenv install $version) or set PYTHON" >&2
    exit 1
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
        [[ -z $VARIANT ]] || choose_python
        PYTHON=${PYTHON:-python3}
        check_python
        echo "==> creating $VENV with $("$PYTHON" --version)"
        "$PYTHON" -m venv "$VENV"
    fi
    if [[ -n $VARIANT ]]; then
        python3 scripts/compose_requirements.py requirements.txt "$VARIANT_FILE" > "$REQUIREMENTS"
    fi
    echo "==> installing pinned dependencies ($REQUIREMENTS) into $VENV"
    "$VENV/bin/python" -m pip install --upgrade pip
    "$VENV/bin/python" -m pip install -r "$REQUIREMENTS"
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
if $IF_NEEDED && is_up_to_date; then
    exit 0
fi
install
