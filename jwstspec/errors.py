"""Exceptions with a user-facing one-line message and an exit code.

Every problem a user can fix (a bad config value, a missing or corrupt
input file, a bad command-line option) is raised as a subclass of
:class:`JwstspecError`.  The CLI prints ``str(error)`` on one line and exits
with :attr:`JwstspecError.exit_code`; no traceback reaches the user for
these.  Anything else is a bug or an environment failure and keeps its
traceback.

Exit codes
----------
2  bad input: configuration, command-line option or input file
3  a processing stage failed (a ``jwst`` step, extraction, combination)
4  network or download failure (MAST, CRDS)
5  another run holds the lock on the data directory
"""

from __future__ import annotations

from pathlib import Path


class JwstspecError(Exception):
    """Base class: a problem with a clear one-line explanation."""

    exit_code: int = 1

    def __str__(self) -> str:  # one line, always
        return " ".join(super().__str__().split())


class ConfigError(JwstspecError, ValueError):
    """An invalid configuration value; the message names the field."""

    exit_code = 2

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"config field '{field}': {reason}")


class InputFileError(JwstspecError, ValueError):
    """A missing, empty, truncated or unusable input file; names the file."""

    exit_code = 2

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def require_file(path: str | Path) -> Path:
    """``path`` as a Path, or :class:`InputFileError` if it is missing or empty."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "file not found")
    if p.stat().st_size == 0:
        raise InputFileError(p, "file is empty")
    return p


class OptionError(JwstspecError, ValueError):
    """An invalid option; names it as the user wrote it: a flag (``--radius``) or a configuration key (``[extract] radius``)."""

    exit_code = 2

    def __init__(self, option: str, reason: str, path: str | Path | None = None) -> None:
        self.option = option
        self.reason = reason
        self.path = None if path is None else str(path)
        prefix = f"{self.path}: " if self.path else ""
        kind = "" if option.startswith("[") else "option "  # a configuration key, "[extract] radius", names itself
        super().__init__(f"{prefix}{kind}{option}: {reason}")


class StageError(JwstspecError, RuntimeError):
    """A processing stage failed on valid input."""

    exit_code = 3


class NetworkError(JwstspecError, RuntimeError):
    """A network operation failed (retryable)."""

    exit_code = 4


class LockError(JwstspecError, RuntimeError):
    """Another run holds the lock on an output directory."""

    exit_code = 5
