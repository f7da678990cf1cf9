"""The ``jwstspec`` command line.

Each sub-command lives in its own module under :mod:`jwstspec.commands`
and defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``.  This file only assembles them and turns
:class:`jwstspec.errors.JwstspecError` into a one-line message and its exit
code (never a traceback for a problem the user can fix).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from jwstspec import __version__
from jwstspec.errors import JwstspecError

#: Sub-commands, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "init",
    "validate",
    "extract",
    "combine",
    "clean1f",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with code 2 and one line on stderr."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command."""
    parser = _Parser(prog="jwstspec", description="JWST NIRSpec/MIRI spectroscopy pipeline.")
    parser.add_argument("--version", action="version", version=f"jwstspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"jwstspec.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"jwstspec.commands.{name}":
                continue
            raise
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jwstspec`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except JwstspecError as exc:
        print(f"jwstspec {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"jwstspec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
