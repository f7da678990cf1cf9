"""The layer rule: the science package never imports the orchestration.

No module under ``jwstspec/`` outside ``jwstspec/commands/`` imports
``flows`` or Prefect (``prefect``, ``prefect_dask`` ...), at module level
or inside a function, directly or by ``importlib.import_module``.  The
commands are the CLI: they may start the flow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jwstspec"
ALLOWED = PACKAGE / "commands"


def _forbidden(module: str) -> bool:
    """``flows``, ``prefect`` and Prefect's integrations (``prefect_dask`` ...)."""
    top = module.split(".")[0]
    return top in ("flows", "prefect") or top.startswith("prefect_")


def layer_violations(source: str, filename: str = "<string>") -> list[str]:
    """``file:line module`` for every import of ``flows`` or Prefect in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        out += [f"{filename}:{node.lineno} imports {name}" for name in names if _forbidden(name)]
    return out


def _science_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not p.is_relative_to(ALLOWED))


def test_science_package_does_not_import_flows_or_prefect() -> None:
    modules = _science_modules()
    assert len(modules) > 20 and PACKAGE / "synthetic" / "demo.py" in modules
    violations = [v for p in modules for v in layer_violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert not violations, "the science package imports the orchestration:\n" + "\n".join(violations)


@pytest.mark.parametrize("source", [
    "import flows.pipeline",
    "import prefect",
    "from prefect.futures import PrefectFuture",
    "import numpy, prefect_dask as pd",
    "def f():\n    from flows.runtime import embedded_prefect\n    return embedded_prefect",
    "class A:\n    def m(self):\n        import flows\n",
    "import importlib\nmod = importlib.import_module('flows.pipeline')",
    "x = __import__('prefect')",
])
def test_checker_finds_every_kind_of_import(source: str) -> None:
    assert layer_violations(source), source


@pytest.mark.parametrize("source", [
    "import numpy\nfrom jwstspec.layout import Layout",
    "from . import flowsheet",
    "from .flows import x",  # a relative module of the package, not the top-level flows
    "import flowsheet, prefecture_map",
    "text = 'import flows'",
])
def test_checker_accepts_other_imports(source: str) -> None:
    assert not layer_violations(source), source


def test_commands_may_start_the_flow() -> None:
    """The CLI is the one place the science package reaches the flow (and it does)."""
    sources = "".join(p.read_text() for p in ALLOWED.glob("*.py"))
    assert any(layer_violations(sources)), "no command imports flows: the layer test's exemption is stale"
