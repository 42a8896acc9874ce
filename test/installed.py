"""Where this package's executables are installed, for tests that run them as a user would.

A pip or editable install puts them in the environment's bin/ (beside sys.executable, usually on
PATH); a colcon workspace puts them in <prefix>/lib/vda_ros, found through AMENT_PREFIX_PATH as
`ros2 run` finds them. Tests must work with either.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PACKAGE = "vda_ros"


def installed_executable(name: str) -> Path:
    """The installed executable `name`: a workspace's lib/vda_ros first, then PATH, then beside sys.executable."""
    prefixes = filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))
    candidates = [Path(prefix) / "lib" / PACKAGE / name for prefix in prefixes]
    on_path = shutil.which(name)
    candidates += [Path(on_path)] if on_path else []
    candidates.append(Path(sys.executable).with_name(name))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError(
        f"{name} is not installed: looked in {', '.join(map(str, candidates))} "
        "(run scripts/install.sh, or colcon build and source install/setup.bash)"
    )
