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


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a file, at any depth (lazy imports included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "flows":  # from flows import x: x may be a package or a name
                found += [(node.lineno, f"flows.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_the_documented_tree_is_the_tree() -> None:
    documented, actual = documented_tree(), actual_tree()
    assert sorted(actual - documented) == [], "in flows/ but not in docs/architecture.md"
    assert sorted(documented - actual) == [], "in docs/architecture.md but not in flows/"


def test_the_rules_table_names_every_layer() -> None:
    layers = {layer(p) for p in FLOWS.rglob("*.py") if p != FLOWS / "__init__.py"}
    assert set(import_rules()) == layers


def test_imports_obey_the_documented_rules() -> None:
    rules = import_rules()
    broken = []
    for path in sorted(FLOWS.rglob("*.py")):
        if path == FLOWS / "__init__.py":
            continue
        own = layer(path)
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] != "flows" or len(parts) < 2 or parts[1] == "__version__":
                continue
            if parts[1] != own and parts[1] not in rules[own]:
                broken.append(f"{path.relative_to(REPO)}:{line}: {own} imports {module}")
    assert broken == []


def test_only_the_pipeline_package_imports_prefect() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in sorted(FLOWS.rglob("*.py"))
        if layer(path) != "pipeline"
        for line, module in imported_modules(path)
        if module.split(".")[0] in PREFECT
    ]
    assert offenders == []


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The AST walk finds top-level, lazy and import_module imports (so the rules can fail)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import prefect\n"
        "def f():\n"
        "    from prefect.tasks import task\n"
        "    from flows import ingest\n"
        "    importlib.import_module('prefect_dask')\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == [
        (1, "prefect"),
        (3, "prefect.tasks"),
        (4, "flows.ingest"),
        (5, "prefect_dask"),
    ]
    assert (layer(FLOWS / "load" / "merge.py"), layer(FLOWS / "db.py")) == ("load", "db")
