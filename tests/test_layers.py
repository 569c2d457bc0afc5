"""The package's import rules, read from the source with ``ast`` (nothing is imported).

- Only ``flows/pipeline/`` imports Prefect: ``import prefect...``, ``from prefect... import``,
  ``importlib.import_module("prefect...")`` and ``__import__("prefect...")``, anywhere in a
  module (lazy imports inside functions count too).
- The layers depend one way only (``LAYER_RULES``): a module of a layer never imports a layer
  listed against it. Code inside string literals (the script ``bench`` runs in a subprocess)
  is not an import.

A violation that is known and scheduled to be fixed is listed in ``KNOWN_VIOLATIONS`` with the
reason; the test fails on any other violation, and also once a listed one is gone (so the list
is shortened with the fix, never left stale).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

FLOWS = REPO / "flows"
LAYERS = ("extract", "normalize", "load", "models", "ingest", "pipeline", "analysis", "cli",
          "tools")  # fmt: skip
LAYER_RULES: dict[str, set[str]] = {
    "extract": {"normalize", "load", "models", "ingest", "pipeline", "analysis", "cli", "tools"},
    "normalize": {"load", "models", "ingest", "pipeline", "analysis", "cli", "tools"},
    "load": {"models", "ingest", "pipeline", "analysis", "cli", "tools"},
    "models": {"ingest", "pipeline", "analysis", "cli", "tools"},
    "ingest": {"pipeline", "analysis", "cli", "tools"},
    "analysis": {"ingest", "pipeline", "cli", "tools"},
    "tools": {"cli"},
}
# (importing file, imported module): why it is still there.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    ("flows/ingest.py", "flows.pipeline.dask"): (
        "_stager imports the Dask stager lazily (a Prefect leak into the plain-Python "
        "composition); the lead is moving it into flows/pipeline"
    ),
    ("flows/tools/bench.py", "flows.cli.ops"): (
        "measure_run calls flows.cli.ops.prefect_defaults (lazy import); reported, not fixed here"
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_in(code: str, module: str, is_package: bool = False) -> set[str]:
    """Every module that ``code`` (the source of ``module``) imports: statements, relative ones
    resolved, ``from package import submodule`` as the submodule, and constant-string calls of
    ``importlib.import_module``/``import_module``/``__import__``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")
            )
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (
                name in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def imports(path: Path) -> set[str]:
    code = path.read_text(encoding="utf-8")
    return imports_in(code, _module_name(path), is_package=path.name == "__init__.py")


def layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "flows" and parts[1] in LAYERS:
        return parts[1]
    return None


def sources() -> list[Path]:
    return sorted(FLOWS.rglob("*.py"))


def violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sources():
        forbidden = LAYER_RULES.get(layer(_module_name(path)) or "", set())
        found.update(
            (str(path.relative_to(REPO)), module)
            for module in imports(path)
            if layer(module) in forbidden
        )
    return found


def test_the_rules_see_every_kind_of_import() -> None:
    code = (
        "import prefect.flows\n"
        "from prefect import flow\n"
        "from ..load import merge\n"
        "from . import frontmatter\n"
        "from flows import pipeline\n"
        "def lazy():\n"
        "    import importlib\n"
        "    importlib.import_module('prefect.deployments')\n"
        "    __import__('flows.cli.main')\n"
        "    return 'from flows.tools import bench'\n"
    )
    assert imports_in(code, "flows.extract.sample") == {
        "prefect.flows",
        "prefect",
        "flows.load",
        "flows.load.merge",
        "flows.extract",
        "flows.extract.frontmatter",
        "flows",
        "flows.pipeline",
        "importlib",
        "prefect.deployments",
        "flows.cli.main",
    }  # a string literal is not an import: no flows.tools


def test_only_the_pipeline_package_imports_prefect() -> None:
    leaks = sorted(
        f"{path.relative_to(REPO)}: {module}"
        for path in sources()
        if not path.is_relative_to(FLOWS / "pipeline")
        for module in imports(path)
        if module == "prefect" or module.startswith("prefect.")
    )
    assert leaks == []


def test_layers_import_one_way_only() -> None:
    found = violations()
    assert sorted(found - KNOWN_VIOLATIONS.keys()) == [], "new import-rule violations"
    assert sorted(KNOWN_VIOLATIONS.keys() - found) == [], "fixed: remove from KNOWN_VIOLATIONS"
