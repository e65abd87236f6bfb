"""The ``restorekit weights list`` and ``restorekit weights fetch NAME`` commands.

The catalogue and the verified downloader are in :mod:`restorekit.models.weights`; this module
only parses the command line and prints. :func:`add_cli` adds the sub-command to the main parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .models import weights as _weights
from .models.folders import ENV_MODEL_DIR, default_model_dir

__all__ = ["add_cli"]


def _cmd_list(args: argparse.Namespace) -> int:
    entries = _weights.list_weights(args.family)
    if args.verified_only:
        entries = tuple(e for e in entries if e.verified)
    width = max(len(e.name) for e in _weights.CATALOGUE)
    for e in entries:
        mark = "sha256" if e.verified else "unverified"
        print(f"{e.name:<{width}}  {e.family:<11} {e.purpose:<7} x{e.scale} {e.channels}ch  {mark:<10}  {e.licence}")
        if args.verbose:
            print(f"{'':<{width}}  file: {e.file_name}\n{'':<{width}}  url:  {e.url}\n{'':<{width}}  noise: {e.noise}")
    print(f"\n{len(entries)} entries; fetch with `restorekit weights fetch NAME` (default folder: {default_model_dir()}).")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    entry = _weights.find_weights(args.name)
    bar = None
    if sys.stderr.isatty() and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=entry.size or 0, unit="B", unit_scale=True, desc=entry.file_name, leave=False, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    try:
        path = _weights.fetch_weights(entry, args.dest, force=args.force, allow_unverified=args.allow_unverified,
                             progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if entry.sha256 is None:
        print(f"{path}\nUNVERIFIED: no published SHA-256; computed sha256 = {_weights.file_sha256(path)}")
    else:
        print(f"{path}\nverified sha256 = {entry.sha256}")
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``weights`` sub-command (``list`` and ``fetch``) to an argparse ``subparsers`` object.

    The leaf parsers set ``weights_handler`` (a function ``(args) -> exit code``), so the caller
    runs ``args.weights_handler(args)`` when ``args.command == "weights"``. Errors are raised as
    :class:`~restorekit.errors.RestoreError` for the caller to print.
    """
    weights = subparsers.add_parser("weights", help="list or download the official pretrained weights (verified)",
                                    description="The official published weights of the supported networks; "
                                                "see docs/MODELS.md.")
    actions = weights.add_subparsers(dest="weights_command", required=True)
    listing = actions.add_parser("list", help="list the catalogue")
    listing.add_argument("--family", default=None, help="only this family, e.g. DRUNet")
    listing.add_argument("--verified-only", action="store_true", help="only files with a published SHA-256")
    listing.add_argument("-v", "--verbose", action="store_true", help="also show file names, URLs and noise ranges")
    listing.set_defaults(weights_handler=_cmd_list)
    fetch = actions.add_parser("fetch", help="download one entry and verify its SHA-256")
    fetch.add_argument("name", help="catalogue name (see `restorekit weights list`) or file name")
    fetch.add_argument("--dest", default=None,
                       help=f"folder to save into (default: ${ENV_MODEL_DIR}, else ~/.cache/restorekit/models; "
                            "for ComfyUI give its models/restorekit folder)")
    fetch.add_argument("--force", action="store_true", help="download again even if the file is present")
    fetch.add_argument("--allow-unverified", action="store_true",
                       help="install a file that has no published SHA-256 (its computed SHA-256 is printed)")
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(weights_handler=_cmd_fetch)
    return weights
