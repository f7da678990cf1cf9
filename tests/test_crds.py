"""Which CRDS context a run uses (jwstspec.crds): pinned, server, local cache.

The offline paths run for real on a synthetic CRDS cache and on a CRDS
JSON-RPC server on loopback (the protocol of ``crds.client.proxy``); the
real CRDS server is asked only by the test marked ``network``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from jwstspec.config import validate_config
from jwstspec.crds import (
    DEFAULT_SERVER,
    SERVERLESS,
    cache_context,
    resolve_context,
    server_default_context,
)
from jwstspec.errors import ConfigError, NetworkError


def _cache(root: Path, context: str) -> Path:
    """A synthetic CRDS cache whose operational context is ``context`` (no references needed)."""
    from jwstspec.synthetic.crds_cache import write_crds_cache

    return write_crds_cache(root, [], context=context)


def _config(tmp: Path, crds: Path, server: str = SERVERLESS, context: str | None = None):
    return validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(tmp),
                            "crds": {"path": str(crds), "server_url": server, "context": context}})


@pytest.fixture
def unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CRDS_CONTEXT from the environment (the test session pins one)."""
    import jwstspec.crds as jc

    monkeypatch.delenv("CRDS_CONTEXT", raising=False)
    monkeypatch.setattr(jc, "_user_context", "")


def test_pinned_context_wins(tmp_path: Path, unpinned: None) -> None:
    crds = _cache(tmp_path / "crds", "jwst_0000.pmap")
    choice = resolve_context(_config(tmp_path, crds, context="jwst_1413.pmap"))
    assert (choice.name, choice.source) == ("jwst_1413.pmap", "pinned")
    env = {"CRDS_CONTEXT": "jwst_0042.pmap", "CRDS_PATH": str(crds), "CRDS_SERVER_URL": SERVERLESS}
    assert resolve_context(env=env).name == "jwst_0042.pmap"
    with pytest.raises(ConfigError, match="crds.context"):
        resolve_context(env={**env, "CRDS_CONTEXT": "jwst-edit"})


def test_serverless_follows_the_cache_and_a_second_context(tmp_path: Path, unpinned: None) -> None:
    crds = _cache(tmp_path / "crds", "jwst_0000.pmap")
    config = _config(tmp_path, crds)
    first = resolve_context(config)
    assert (first.name, first.source) == ("jwst_0000.pmap", "local cache")
    assert str(crds / "config" / "jwst" / "server_config") in first.detail
    _cache(crds, "jwst_0001.pmap")  # a new operational context lands in the cache (as a CRDS sync would)
    assert resolve_context(config).name == "jwst_0001.pmap"
    assert cache_context(crds / "config" / "jwst" / "server_config") == "jwst_0001.pmap"


def test_serverless_without_cache_is_a_config_error(tmp_path: Path, unpinned: None) -> None:
    with pytest.raises(ConfigError, match="server_config"):
        resolve_context(_config(tmp_path, tmp_path / "empty"))


class _CrdsRpc(BaseHTTPRequestHandler):
    """A CRDS JSON-RPC endpoint: answers get_build_context / get_default_context like the real server."""

    build: dict[str, str] = {}
    latest = "jwst_1500.pmap"
    calls: list[tuple[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method, params = request["method"], request["params"]
        self.calls.append((method, params))
        reply = {"id": request["id"], "error": None, "result": None}
        if method == "get_build_context" and params[1] in self.build:
            reply["result"] = self.build[params[1]]
        elif method == "get_build_context":
            reply["error"] = {"message": f"no build context for {params[1]}"}
        elif method == "get_default_context" and params[1:] == ["latest"]:
            reply["result"] = self.latest
        else:
            reply["error"] = {"message": f"unknown method {method}"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def crds_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _CrdsRpc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _CrdsRpc.calls = []
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_server_build_context_then_latest(tmp_path: Path, unpinned: None, crds_server: str) -> None:
    """CRDS's rule for JWST: the build context of the installed jwst, else the server's latest context."""
    from importlib.metadata import version

    from crds.core.config import simplify_version

    crds = _cache(tmp_path / "crds", "jwst_0000.pmap")  # the server wins over the cache
    config = _config(tmp_path, crds, server=crds_server)
    _CrdsRpc.build = {}
    choice = resolve_context(config)
    assert (choice.name, choice.source) == ("jwst_1500.pmap", "server")
    assert [m for m, _ in _CrdsRpc.calls] == ["get_build_context", "get_default_context"]
    assert _CrdsRpc.calls[0][1] == ["jwst", simplify_version(version("jwst"))]
    _CrdsRpc.build = {simplify_version(version("jwst")): "jwst_1464.pmap"}
    choice = resolve_context(config)
    assert (choice.name, choice.source) == ("jwst_1464.pmap", "server") and "build context" in choice.detail


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_falls_back_to_the_cache(tmp_path: Path, unpinned: None) -> None:
    server = f"http://localhost:{_closed_port()}"
    crds = _cache(tmp_path / "crds", "jwst_0007.pmap")
    choice = resolve_context(_config(tmp_path, crds, server=server), timeout=5)
    assert (choice.name, choice.source) == ("jwst_0007.pmap", "local cache")
    assert server in choice.detail
    with pytest.raises(NetworkError, match="no CRDS context") as info:
        resolve_context(_config(tmp_path, tmp_path / "no-cache", server=server), timeout=5)
    assert info.value.exit_code == 4 and "\n" not in str(info.value)


USE_CONTEXT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    crds = Path(sys.argv[1])
    (crds / "config" / "jwst").mkdir(parents=True)  # the cache's server_config is all CRDS reads here
    (crds / "config" / "jwst" / "server_config").write_text(repr({"observatory": "jwst", "last_synced": "2025-01-01",
        "latest_context": "jwst_0001.pmap", "operational_context": "jwst_0001.pmap", "bad_files_list": []}))
    os.environ.update(CRDS_PATH=str(crds), CRDS_SERVER_URL="https://jwst-serverless-mode.stsci.edu", CRDS_OBSERVATORY="jwst")
    import crds as crds_pkg
    from jwstspec.crds import use_context
    use_context("jwst_0000.pmap")
    first = crds_pkg.get_context_name("jwst")
    use_context("jwst_0001.pmap")   # a pool worker serving the next run
    print("RESULT", first, crds_pkg.get_context_name("jwst"))
    """
)


def test_use_context_changes_what_crds_resolves_in_a_warm_process(tmp_path: Path) -> None:
    """CRDS fixes a process's context at its first look-up; use_context makes the next one count (CRDS as oracle)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    proc = subprocess.run([sys.executable, "-c", USE_CONTEXT, str(tmp_path / "crds")], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    assert lines[0].split()[1:] == ["jwst_0000.pmap", "jwst_0001.pmap"]


@pytest.mark.network
def test_real_crds_server_context() -> None:
    name, source, detail = server_default_context(DEFAULT_SERVER, timeout=30)
    assert source == "server" and name.startswith("jwst_") and name.endswith(".pmap"), (name, detail)
