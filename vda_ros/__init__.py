"""Video Depth Anything for ROS 2: temporally consistent monocular depth from one camera."""

from __future__ import annotations


def _version() -> str:
    """The package's version, written in one place: package.xml, which ROS tooling reads and bumps.

    A checkout (an editable install, a colcon --symlink-install, PYTHONPATH) has package.xml beside the package,
    and it is read there: the installed metadata of an editable install keeps the version it was installed with.
    An installed copy (a wheel, colcon without --symlink-install) has the metadata setup.py wrote from package.xml.
    """
    from pathlib import Path
    from xml.etree import ElementTree

    manifest = Path(__file__).resolve().parent.parent / "package.xml"
    if manifest.is_file():
        root = ElementTree.parse(manifest).getroot()
        if root.findtext("name") == __name__:
            return root.findtext("version", "").strip()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(__name__)
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
