"""The help layout of the console scripts whose flags come from settings objects (core.options.add_flags)."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Each flag's help ends with its default, as the hand-written helps said it; an empty or off one is left out.

    The option's help is shared by every surface (flag, ROS parameter), so the default is added here rather
    than written into it; argparse's ArgumentDefaultsHelpFormatter would also print "(default: )" and
    "(default: False)".
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if not action.option_strings or _says_nothing(action.default) or "%(default)" in help_text:
            return action.help
        return f"{help_text} (default: %(default)s)"


def _says_nothing(default: object) -> bool:
    """An unset, empty or off default (the help says what that means), not worth a "(default: ...)"."""
    return default is None or default is False or default is argparse.SUPPRESS or default in ("", [], ())
