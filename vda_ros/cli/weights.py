"""vda-download-weights: fetch the official checkpoints into the checkpoint folder and verify their sha256."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vda_ros.interruption import EXIT_INTERRUPTED, Interrupted, interruptible
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.model import ENCODERS, default_checkpoint_dir
from vda_ros.model.weights import BASE_URL_ENV, HUB_URL, DownloadError, obtain, selected_checkpoints


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-download-weights",
        description="Download the official Video Depth Anything checkpoints and verify their sha256.",
    )
    parser.add_argument("--encoder", choices=(*ENCODERS, "all"), default="vits", help="model size (default vits)")
    family = parser.add_mutually_exclusive_group()
    family.add_argument(
        "--metric", action="store_true", help="the metric-depth checkpoints instead of the relative ones"
    )
    family.add_argument("--all", action="store_true", help="both the relative and the metric checkpoints")
    parser.add_argument(
        "--dir", type=Path, default=None, help="target folder (default $VDA_CHECKPOINT_DIR or ./checkpoints)"
    )
    parser.add_argument("--force", action="store_true", help="download again even when the file is present")
    parser.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV, HUB_URL),
        help=f"server to download from (default ${BASE_URL_ENV} or {HUB_URL})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-download-weights.

    Exit status 0 when every file asked for is present and verified, 1 when any failed (each
    failure named), 130 when interrupted (SIGINT or SIGTERM). No partial file is left in any case;
    one left by a killed earlier run in the same folder is removed first.
    """
    args = build_parser().parse_args(argv)
    directory = args.dir if args.dir is not None else default_checkpoint_dir()
    checkpoints = selected_checkpoints(args.encoder, args.metric, args.all)
    failures = 0
    with interruptible():
        try:
            cleaned = remove_stale_temporaries(directory)
            if cleaned:
                print(f"vda-download-weights: {cleaned}", file=sys.stderr)
            for checkpoint in checkpoints:
                try:
                    print(obtain(checkpoint, directory, args.base_url, args.force))
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
