"""``jwstspec init``: write a commented configuration template."""

from __future__ import annotations

import argparse
from pathlib import Path

from jwstspec.config import template
from jwstspec.errors import OptionError
from jwstspec.fileio import atomic_write_text

HELP = "Write a commented configuration template (every option with its default)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec init`` arguments to ``parser``."""
    parser.add_argument("output", nargs="?", default="jwstspec.toml", help="file to write (default: jwstspec.toml)")
    parser.add_argument("--program", default="01234", help="program number to put in the template")
    parser.add_argument("--observation", default="001", help="observation number to put in the template")
    parser.add_argument("--data-dir", default="./data", help="data directory to put in the template")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec init``; return the exit code."""
    out = Path(args.output)
    if out.exists() and not args.force:
        raise OptionError("output", f"{out} exists; use --force to overwrite it")
    atomic_write_text(out, template(args.program, args.observation, args.data_dir))
    print(f"wrote {out}: edit it, then `jwstspec validate {out}` and `jwstspec run {out}`")
    return 0
