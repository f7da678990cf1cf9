"""CRDS environment of a run: which cache, which server, which context.

CRDS reads its configuration from environment variables once per process,
so the flow applies :func:`crds_environment` in the parent process before
any ``jwst`` import resolves a reference, and again in each worker
process's initializer.  A pinned context (``[crds] context``) is honoured
by every step because every step asks CRDS through these variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from jwstspec.config import PipelineConfig

DEFAULT_SERVER = "https://jwst-crds.stsci.edu"
SERVERLESS = "https://jwst-serverless-mode.stsci.edu"


def crds_environment(config: PipelineConfig) -> dict[str, str]:
    """Environment variables that set up CRDS for this configuration."""
    env: dict[str, str] = {"CRDS_OBSERVATORY": "jwst"}
    path = config.crds.path or os.environ.get("CRDS_PATH") or Path.home() / "crds_cache"
    env["CRDS_PATH"] = str(Path(path).expanduser())
    server = config.crds.server_url or os.environ.get("CRDS_SERVER_URL") or DEFAULT_SERVER
    env["CRDS_SERVER_URL"] = server
    if server == SERVERLESS:
        # local cache only: no parameter-reference look-ups, hand-written mappings allowed
        env["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
        env["CRDS_IGNORE_MAPPING_CHECKSUM"] = "1"
    if config.crds.context:
        env["CRDS_CONTEXT"] = config.crds.context
    return env


def apply_environment(env: dict[str, str]) -> None:
    """Set the variables in this process (call before the first CRDS look-up)."""
    os.environ.update(env)


def context_in_force() -> str:
    """The CRDS context a run uses: the pinned one, else the cache's operational one."""
    pinned = os.environ.get("CRDS_CONTEXT")
    if pinned:
        return pinned
    try:
        import crds

        return str(crds.get_context_name("jwst"))
    except (Exception, SystemExit) as exc:  # no cache and no server: CRDS exits on a failed set-up
        return f"unknown ({type(exc).__name__})"
