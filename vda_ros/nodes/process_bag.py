"""Moved to vda_ros.tools.process_bag (a tool, not a node); `vda_ros.nodes.process_bag:main` still works."""

from vda_ros.tools.process_bag import main

__all__ = ["main"]
