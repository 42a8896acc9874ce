"""Moved to vda_ros.tools.demo (a tool that starts nodes, not a node); `vda_ros.nodes.demo:main` still works."""

from vda_ros.tools.demo import main

__all__ = ["main"]
