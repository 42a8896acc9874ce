"""The backends' errors, apart so that the graph cache (which base.py builds on) can raise them too."""

from __future__ import annotations

from vda_ros.errors import VdaError


class BackendError(VdaError):
    """A backend that cannot run as asked (runtime not installed, precision or device it does not offer)."""


class CacheError(BackendError):
    """The graph cache folder cannot be used: missing rights, a file in its place, a full disk.

    Its message names the folder and the option that chooses another, for every tool and node alike.
    """
