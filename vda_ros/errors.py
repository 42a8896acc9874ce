"""The errors a user can fix, one hierarchy for every tool and node.

Every tool reports a VdaError as one line (`PROG: error: ...`, exit status 2) and never with a
traceback; anything else that escapes is a bug and keeps its traceback. The classes live beside the
code that raises them (media.MediaError, bag_io.BagError, ...) and derive from VdaError, so a tool
catches them all at once. Those that were ValueError or RuntimeError before the hierarchy existed
still are, for code that catches them that way. This module imports nothing, so the ROS-free parts
(the model, the pipeline) can use it.
"""

from __future__ import annotations


class VdaError(Exception):
    """A problem the user can fix, reported as one line without a traceback."""


class UsageError(VdaError):
    """A bad option, or an input or output the tool cannot use (missing file, wrong topic, unavailable device)."""
