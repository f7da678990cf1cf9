"""CRDS environment of a run: which cache, which server, which context.

CRDS reads its configuration from environment variables, so the flow
applies :func:`crds_environment` in the parent process before any ``jwst``
import resolves a reference, and again in each worker process's
initializer.

The context a run uses is resolved once, at its start
(:func:`resolve_context`), in the order CRDS itself would use:

1. pinned: ``[crds] context``, else the ``CRDS_CONTEXT`` environment
   variable;
2. the CRDS server (``[crds] server_url``): for JWST, CRDS's default is the
   *build context* of the installed ``jwst`` version, and the server's
   latest (operational) context when it has none for this version;
3. the local cache's ``config/jwst/server_config`` (what the last sync, or
   the synthetic cache of the demo, says is operational), when the server
   is serverless or cannot be reached.

The run then pins that context in every task that asks CRDS
(:func:`use_context`), records it in the manifest and the summary, and
keys its Stage 1-3 tasks on it, so a new context recomputes them (and
everything downstream) while an unchanged one keeps every cache hit.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

from jwstspec.config import PipelineConfig
from jwstspec.errors import ConfigError, NetworkError

DEFAULT_SERVER = "https://jwst-crds.stsci.edu"
SERVERLESS = "https://jwst-serverless-mode.stsci.edu"

_PMAP = re.compile(r"^jwst_\d+\.pmap$")
#: CRDS_CONTEXT values CRDS translates to the latest (operational) context
_LATEST = ("latest", "jwst-operational", "jwst-latest")


def crds_environment(config: PipelineConfig) -> dict[str, str]:
    """Environment variables that set up CRDS for this configuration."""
    env: dict[str, str] = {"CRDS_OBSERVATORY": "jwst"}
    path = config.crds.path or os.environ.get("CRDS_PATH") or Path.home() / "crds_cache"
    env["CRDS_PATH"] = str(Path(path).expanduser())
    server = config.crds.server_url or os.environ.get("CRDS_SERVER_URL") or DEFAULT_SERVER
    env["CRDS_SERVER_URL"] = server
    if is_serverless(server):
        # local cache only: no parameter-reference look-ups, hand-written mappings allowed
        env["STPIPE_DISABLE_CRDS_STEPPARS"] = "true"
        env["CRDS_IGNORE_MAPPING_CHECKSUM"] = "1"
    if config.crds.context:
        env["CRDS_CONTEXT"] = config.crds.context
    return env


#: CRDS_CONTEXT as the user set it, before jwstspec set it in this process (see :func:`user_pinned_context`)
_UNTOUCHED = object()
_user_context: object = _UNTOUCHED


def _remember_user_context() -> None:
    global _user_context
    if _user_context is _UNTOUCHED:
        _user_context = os.environ.get("CRDS_CONTEXT", "")


def user_pinned_context() -> str:
    """``CRDS_CONTEXT`` as the user set it (not as a previous run of this process left it)."""
    return os.environ.get("CRDS_CONTEXT", "") if _user_context is _UNTOUCHED else str(_user_context)


def apply_environment(env: dict[str, str]) -> None:
    """Set the variables in this process (call before the first CRDS look-up)."""
    if "CRDS_CONTEXT" in env:
        _remember_user_context()
    os.environ.update(env)


def is_serverless(url: str) -> bool:
    """Whether ``url`` is CRDS's server-less mode (local cache only; CRDS's own test)."""
    return "serverless" in url or "server-less" in url


@dataclasses.dataclass(frozen=True)
class ContextChoice:
    """The CRDS context of a run and where it came from.

    Attributes
    ----------
    name : str
        ``jwst_NNNN.pmap``.
    source : str
        ``pinned``, ``server`` or ``local cache``.
    detail : str
        One line: the server or cache file asked, the rule applied, why
        the server was not used.
    """

    name: str
    source: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.source}{': ' + self.detail if self.detail else ''})"


def resolve_context(config: PipelineConfig | None = None, env: Mapping[str, str] | None = None,
                    *, timeout: float = 20.0) -> ContextChoice:
    """The CRDS context in force for a run starting now.

    Parameters
    ----------
    config : PipelineConfig, optional
        Its ``[crds]`` section (context, path, server_url) comes first.
    env : mapping, optional
        Environment to read (default ``os.environ``): ``CRDS_CONTEXT``,
        ``CRDS_PATH``, ``CRDS_SERVER_URL``.
    timeout : float
        Seconds to wait for the CRDS server.

    Returns
    -------
    ContextChoice

    Raises
    ------
    ConfigError
        A pinned context that is not a ``.pmap`` name, or a server-less
        set-up whose cache has no ``server_config``.
    NetworkError
        The server cannot be reached and the cache has no ``server_config``.
    """
    pinned = (user_pinned_context() if env is None else env.get("CRDS_CONTEXT", "")).strip()
    env = dict(os.environ if env is None else env)
    if config is not None:
        env.update(crds_environment(config))
        pinned = config.crds.context or pinned
    server = env.get("CRDS_SERVER_URL") or DEFAULT_SERVER
    if pinned and pinned not in _LATEST:
        if not _PMAP.match(pinned):
            raise ConfigError("crds.context", f"CRDS_CONTEXT={pinned!r} is not a context name like 'jwst_1413.pmap'")
        return ContextChoice(pinned, "pinned", "[crds] context" if config is not None and config.crds.context else "CRDS_CONTEXT")
    why = "server-less mode"
    if not is_serverless(server):
        try:
            if pinned:  # 'latest': the server's operational context
                return ContextChoice(server_latest_context(server, timeout), "server", f"latest context of {server}")
            return ContextChoice(*server_default_context(server, timeout))
        except NetworkError as exc:
            why = str(exc)
    cache = cache_config_path(env)
    try:
        return ContextChoice(cache_context(cache), "local cache", f"{cache}; server not asked: {why}")
    except ConfigError as exc:
        if is_serverless(server):
            raise
        raise NetworkError(f"no CRDS context: {why}, and {exc.reason}") from None


def cache_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The cache's ``server_config`` (CRDS's rule: ``CRDS_CFGPATH``, else ``CRDS_PATH/config/jwst``)."""
    env = os.environ if env is None else env
    if env.get("CRDS_CFGPATH_SINGLE"):
        return Path(env["CRDS_CFGPATH_SINGLE"]) / "server_config"
    if env.get("CRDS_CFGPATH"):
        return Path(env["CRDS_CFGPATH"]) / "jwst" / "server_config"
    root = env.get("CRDS_PATH") or str(Path.home() / "crds_cache")
    return Path(root).expanduser() / "config" / "jwst" / "server_config"


def cache_context(server_config: str | Path) -> str:
    """The context a CRDS cache's ``server_config`` names (``latest_context``, else ``operational_context``).

    Raises
    ------
    ConfigError
        The file is missing, unreadable or names no context.
    """
    path = Path(server_config)
    try:
        info = ast.literal_eval(path.read_text())
        name = str(info.get("latest_context") or info.get("operational_context") or "")
    except (OSError, ValueError, SyntaxError, AttributeError) as exc:
        raise ConfigError("crds.path", f"{path}: no readable CRDS server_config ({type(exc).__name__})") from None
    if not _PMAP.match(name):
        raise ConfigError("crds.path", f"{path}: names no context (latest_context/operational_context)")
    return name


def _rpc(server: str, method: str, params: list[str], timeout: float) -> str:
    """One CRDS JSON-RPC call (the protocol of ``crds.client.proxy``), with a timeout."""
    from crds.client.proxy import crds_decode

    call_id = uuid.uuid4().hex
    body = json.dumps({"jsonrpc": "1.0", "method": method, "params": params, "id": call_id}).encode()
    url = f"{server.rstrip('/')}/json/{method}/{call_id}/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise NetworkError(f"CRDS server {server} did not answer {method} ({type(exc).__name__}: {exc})") from None
    if reply.get("error"):
        raise LookupError(str(reply["error"].get("message", reply["error"])))
    result = str(crds_decode(reply.get("result")))
    if not _PMAP.match(result):
        raise NetworkError(f"CRDS server {server} answered {method} with {result!r}, not a context name")
    return result


def server_latest_context(server: str, timeout: float = 20.0) -> str:
    """The server's latest (operational) context."""
    try:
        return _rpc(server, "get_default_context", ["jwst", "latest"], timeout)
    except LookupError:  # a server older than CRDS 13 takes no state
        return _rpc(server, "get_default_context", ["jwst"], timeout)


def server_default_context(server: str, timeout: float = 20.0) -> tuple[str, str, str]:
    """What CRDS uses for JWST when nothing is pinned: (context, 'server', rule).

    CRDS (``heavy_client.get_final_context``) takes the build context of the
    installed ``jwst`` version, else the server's latest context.
    """
    from importlib.metadata import version

    from crds.core.config import simplify_version

    calver = version("jwst")
    if "dev" not in calver:
        calver = simplify_version(calver)
        try:
            return _rpc(server, "get_build_context", ["jwst", calver], timeout), "server", f"build context of jwst {calver} on {server}"
        except LookupError:
            pass
    return server_latest_context(server, timeout), "server", f"latest context of {server} (no build context for jwst {calver})"


def use_context(name: str) -> None:
    """Make ``name`` the context of every CRDS look-up of this process from now on.

    Sets ``CRDS_CONTEXT`` and, when it changes, clears CRDS's per-process
    caches (CRDS fixes the context of a process at its first look-up, and
    a pool worker serves runs one after another).
    """
    if not name or os.environ.get("CRDS_CONTEXT") == name:
        return
    _remember_user_context()
    os.environ["CRDS_CONTEXT"] = name
    try:
        from crds.core import utils

        utils.clear_function_caches()
    except ImportError:  # pragma: no cover - crds comes with jwst
        pass


def context_in_force() -> str:
    """The CRDS context this process uses: the pinned one, else the cache's operational one."""
    pinned = os.environ.get("CRDS_CONTEXT")
    if pinned:
        return pinned
    try:
        import crds

        return str(crds.get_context_name("jwst"))
    except (Exception, SystemExit) as exc:  # no cache and no server: CRDS exits on a failed set-up
        return f"unknown ({type(exc).__name__})"
