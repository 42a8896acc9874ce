"""vda-download-weights: fetch the official checkpoints into the checkpoint folder and verify their sha256."""

from __future__ import annotations

import argparse
import sys

from vda_ros.cli.help_format import DefaultsHelpFormatter
from vda_ros.core.options import OptionError, add_flags, from_args
from vda_ros.interruption import EXIT_INTERRUPTED, Interrupted, interruptible
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.model.weights import DownloadError, WeightsSettings, obtain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-download-weights",
        formatter_class=DefaultsHelpFormatter,
        description="Download the official Video Depth Anything checkpoints and verify their sha256.",
    )
    add_flags(parser, WeightsSettings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-download-weights.

    Exit status 0 when every file asked for is present and verified, 1 when any failed (each
    failure named), 130 when interrupted (SIGINT or SIGTERM). No partial file is left in any case;
    one left by a killed earlier run in the same folder is removed first.
    """
    parser = build_parser()
    try:
        settings = from_args(WeightsSettings, parser.parse_args(argv))
    except OptionError as error:
        parser.error(str(error))
    directory, checkpoints = settings.directory, settings.checkpoints
    failures = 0
    with interruptible():
        try:
            cleaned = remove_stale_temporaries(directory)
            if cleaned:
                print(f"vda-download-weights: {cleaned}", file=sys.stderr)
            for checkpoint in checkpoints:
                try:
                    print(obtain(checkpoint, directory, settings.url, settings.force))
                except DownloadError as error:
                    print(f"vda-download-weights: error: {error}", file=sys.stderr)
                    failures += 1
        except Interrupted as interruption:
            print(f"vda-download-weights: interrupted ({interruption}); no partial file was left", file=sys.stderr)
            return EXIT_INTERRUPTED
    if failures:
        print(
            f"vda-download-weights: {failures} of {len(checkpoints)} files failed; no partial file was left",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
