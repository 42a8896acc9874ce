#!/usr/bin/env bash
# One command from a fresh clone to a running demo: installs everything into .venv
# (scripts/install.sh, safe to run again), then runs the main job (scripts/main_job.sh).
set -euo pipefail

scripts_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$scripts_dir/install.sh"
exec "$scripts_dir/main_job.sh" "$@"
