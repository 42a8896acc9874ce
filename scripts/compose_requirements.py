#!/usr/bin/env python3
"""Print the requirements of an install variant: requirements.txt with a variant file's changes.

    compose_requirements.py requirements.txt requirements/jazzy.txt      -> pip requirement lines
    compose_requirements.py --python requirements/humble.txt             -> the variant's Python (or nothing)

requirements.txt stays the one place most versions are pinned; a variant file (requirements/*.txt,
its header says the syntax) names only what a ROS distribution provides instead: a `NAME==VERSION`
line replaces the pin of NAME, `omit PATTERN` drops requirements.txt's pins whose names match,
`python X.Y` names the interpreter. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalised(name: str) -> str:
    """PEP 503 form, so that opencv_python_headless and opencv-python-headless are one name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> list[str]:
    """Non-empty lines with comments removed."""
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def _requirement_name(line: str) -> str:
    match = _NAME.match(line)
    if match is None:
        raise SystemExit(f"compose_requirements: cannot read a package name in {line!r}")
    return _normalised(match.group(1))


def variant_python(variant: Path) -> str | None:
    """The X.Y of the variant's `python` line, or None when it uses the default interpreter."""
    versions = [line.split()[1] for line in _lines(variant) if line.split()[0] == "python"]
    return versions[-1] if versions else None


def compose(base: Path, variant: Path) -> list[str]:
    """base's requirement lines, minus the omitted and replaced ones, plus the variant's own pins."""
    omitted: list[str] = []
    pins: list[str] = []
    for line in _lines(variant):
        keyword, _, rest = line.partition(" ")
        if keyword == "omit":
            omitted.append(_normalised(rest.strip()))
        elif keyword != "python":
            pins.append(line)
    replaced = {_requirement_name(pin) for pin in pins}
    kept = [
        line
        for line in _lines(base)
        if _requirement_name(line) not in replaced
        and not any(fnmatch.fnmatchcase(_requirement_name(line), pattern) for pattern in omitted)
    ]
    return kept + pins


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--python":
        print(variant_python(Path(argv[1])) or "")
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(compose(Path(argv[0]), Path(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
