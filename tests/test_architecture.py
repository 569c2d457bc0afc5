"""docs/architecture.md against the code: the tree lists exactly the modules, imports obey the table."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

DOC = REPO / "docs" / "architecture.md"
FLOWS = REPO / "flows"
PREFECT = ("prefect", "prefect_dask")


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_tree() -> set[str]:
    """The paths in the first code block of "The tree" (indent of two spaces = one level)."""
    block = _section("The tree").split("```\n")[1]
    parents: list[str] = []
    paths: set[str] = set()
    for line in block.splitlines():
        indent = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        parents = parents[:indent]
        path = "/".join([*parents, name.rstrip("/")])
        paths.add(path)
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
    return paths


def actual_tree() -> set[str]:
    paths = {"flows"}
    for path in FLOWS.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        if path.is_dir() or path.suffix == ".py":
            paths.add(path.relative_to(REPO).as_posix())
    return paths


def import_rules() -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for line in _section("Import rules").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not line.startswith("|") or cells[0] in ("package", "---"):
            continue
        allowed = set() if cells[1] == "(nothing)" else {c.strip() for c in cells[1].split(",")}
        rules[cells[0]] = allowed
    return rules


def layer(path: Path) -> str:
    """``flows/load/merge.py`` -> ``load``; ``flows/db.py`` -> ``db``."""
    parts = path.relative_to(FLOWS).parts
    return parts[0] if len(parts) > 1 else path.stem


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


def test_the_documented_tree_is_the_tree() -> None:
    documented, actual = documented_tree(), actual_tree()
    assert sorted(actual - documented) == [], "in flows/ but not in docs/architecture.md"
    assert sorted(documented - actual) == [], "in docs/architecture.md but not in flows/"


def test_the_rules_table_names_every_layer() -> None:
    layers = {layer(p) for p in FLOWS.rglob("*.py") if p != FLOWS / "__init__.py"}
    assert set(import_rules()) == layers


def imported_layer(module: str) -> str | None:
    """``flows.load.merge`` -> ``load``; ``flows`` itself (the version) and non-flows -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "flows" else None


def test_imports_obey_the_documented_rules() -> None:
    rules = import_rules()
    broken = sorted(
        f"{path.relative_to(REPO)}: {layer(path)} imports {module}"
        for path in sorted(FLOWS.rglob("*.py"))
        if path != FLOWS / "__init__.py"
        for module in imports(path)
        if (target := imported_layer(module)) not in (None, layer(path))
        and target not in rules[layer(path)]
    )
    assert broken == []


def test_only_the_pipeline_package_imports_prefect() -> None:
    leaks = sorted(
        f"{path.relative_to(REPO)}: {module}"
        for path in sorted(FLOWS.rglob("*.py"))
        if layer(path) != "pipeline"
        for module in imports(path)
        if module.split(".")[0] in PREFECT
    )
    assert leaks == []


def test_the_rules_see_every_kind_of_import() -> None:
    code = (
        "import prefect.flows\n"
        "from prefect import flow\n"
        "from ..load import merge\n"
        "from . import frontmatter\n"
        "from flows import pipeline\n"
        "def lazy():\n"
        "    import importlib\n"
        "    importlib.import_module('prefect_dask')\n"
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
        "prefect_dask",
        "flows.cli.main",
    }  # a string literal is not an import: no flows.tools
    assert (layer(FLOWS / "load" / "merge.py"), layer(FLOWS / "db.py")) == ("load", "db")
    assert [imported_layer(m) for m in ("flows", "flows.db", "flows.load.merge", "os")] == [
        None,
        "db",
        "load",
        None,
    ]


def test_the_tests_mirror_the_packages() -> None:
    """tests/<package>/test_<module>.py tests flows/<package>/<module>.py; whole-run scenarios
    live in tests/scenarios/ and test data in tests/fixtures/."""
    tests = REPO / "tests"
    strays = sorted(
        path.relative_to(REPO).as_posix()
        for path in tests.glob("*/test_*.py")
        if path.parent.name != "scenarios"
        and not (FLOWS / path.parent.name / f"{path.stem.removeprefix('test_')}.py").is_file()
    )
    assert strays == []
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.name for p in FLOWS.iterdir() if (p / "__init__.py").is_file()}
    assert folders - packages == {"scenarios", "fixtures"}
