"""``jwstspec validate``: check a configuration without doing any work."""

from __future__ import annotations

import argparse

from jwstspec.config import load_config

HELP = "Validate a configuration file (nothing is run or written)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec validate`` arguments to ``parser``."""
    parser.add_argument("config", help="TOML configuration file")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec validate``; return the exit code."""
    config = load_config(args.config)
    print(
        f"{args.config}: valid (program {config.program}, observation {config.observation}, "
        f"{config.instrument} {config.mode}, stages {', '.join(config.stages)}; digest {config.digest()})"
    )
    return 0
