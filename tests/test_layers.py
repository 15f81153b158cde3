"""The package's layers, held by reading every import (function-level ones included) with `ast`.

Each wing may import only the wings below it in `LAYERS`; the three faces never import one another;
no two files, and no two wings, import each other round a cycle; the UI toolkits stay in their face;
`core`, the option spec and the config import no torch. Imports under ``if TYPE_CHECKING:`` are names for the type
checker only and are not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
# Bottom to top. Wings on one line share a rank and may not import each other.
LAYERS = [
    ["core"], ["models"], ["data"], ["store"], ["spec"], ["present"], ["training"], ["experiments"],
    ["explorer"], ["inside"], ["studies"], ["jobs"], ["cli", "dashboard", "widgets"],
]
RANK = {wing: rank for rank, wings in enumerate(LAYERS) for wing in wings}
# Third-party packages that belong to one wing only (argparse: the CLI, and the dashboard's own server flags).
ONLY_IN = {"streamlit": {"dashboard"}, "ipywidgets": {"widgets"}, "argparse": {"cli", "dashboard"}}
# The option spec is data: a face can read it (and `workbench --help` answer) without loading torch.
TORCH_FREE = ("workbench.core", "workbench.spec.options", "workbench.spec.config", "workbench.spec.limits",
              "workbench.models.catalogue")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return hidden


def imports_of(path: Path) -> list[str]:
    """Every module ``path`` imports, as dotted names (``from a import b`` gives ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text())
    hidden = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names if _is_module(f"{node.module}.{alias.name}")]
    return found


def _is_module(name: str) -> bool:
    if not name.startswith("workbench."):
        return False
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        graph[name] = {target for target in imports_of(path)
                       if target.startswith("workbench") and _is_module(target) and target != name}
    return graph


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def _package_inits_and_parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))}


def test_every_module_lives_in_a_known_wing():
    unknown = {_wing(m) for m in _graph() if _wing(m) and _wing(m) not in RANK}
    assert not unknown, f"add these wings to LAYERS: {unknown}"


def test_no_wing_imports_a_wing_above_it_or_a_face_beside_it():
    upward = []
    for module, targets in _graph().items():
        wing = _wing(module)
        for target in targets:
            other = _wing(target)
            if wing is None or other is None or other == wing:
                continue
            if RANK[other] >= RANK[wing]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_files():
    graph = _graph()
    # A package's __init__ is imported on the way to each of its modules: not an edge of the cycle check.
    for module in graph:
        graph[module] = {t for t in graph[module] if t not in _package_inits_and_parents(module)}
    assert not _cycles(graph)


def test_no_import_cycle_between_wings():
    wings: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        if _wing(module):
            wings.setdefault(_wing(module), set()).update(
                _wing(t) for t in targets if _wing(t) and _wing(t) != _wing(module))
    assert not _cycles(wings)


def test_toolkits_stay_in_their_face_and_core_and_spec_import_no_torch():
    misplaced = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for target in imports_of(path):
            top = target.split(".")[0]
            if top in ONLY_IN and _wing(module) not in ONLY_IN[top]:
                misplaced.append(f"{module} imports {top}")
            if top in ("torch", "torchvision") and module.startswith(TORCH_FREE):
                misplaced.append(f"{module} imports {top}")
    assert not misplaced, "\n".join(sorted(misplaced))


def test_the_checker_sees_a_planted_upward_import(tmp_path):
    """The checks above can fail: an upward import written into a file is found."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from workbench.dashboard import app\n")
    assert "workbench.dashboard.app" in imports_of(planted)
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


@pytest.mark.parametrize("module", ["workbench.spec.options", "workbench.spec.config", "workbench.cli.main",
                                    "workbench.core.records"])
def test_light_modules_import_no_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_notebooks_import_only_the_public_faces():
    """Tutorials use `workbench` and `workbench.widgets` only, so moving a module never breaks a lesson."""
    import json
    import re

    found = []
    for notebook in sorted((PACKAGE.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                found += [(notebook.name, m) for m in re.findall(r"(?:from|import) (workbench[\w.]*)", source)]
    assert found, "no notebook imports the workbench: the check would pass on anything"
    assert {module for _, module in found} <= {"workbench", "workbench.widgets"}, found


def test_every_public_name_resolves():
    import workbench
    import workbench.widgets

    for package in (workbench, workbench.widgets):
        for name in package.__all__:
            assert getattr(package, name) is not None, name


def test_the_light_backbone_catalogue_names_the_registry():
    from workbench.models.backbones import list_backbones
    from workbench.models.catalogue import BACKBONE_NAMES

    assert list_backbones() == list(BACKBONE_NAMES)


def test_a_records_settings_are_read_typed_outside_the_store():
    """`RunConfig.of(record)` everywhere a record's settings are read; only records and the store see the dict."""
    import re

    raw = re.compile(r"\.config(\[|\.get\()")
    found = [f"{path.relative_to(PACKAGE)}:{n}" for path in PACKAGE.rglob("*.py")
             if not path.is_relative_to(PACKAGE / "store") and path != PACKAGE / "core" / "records.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if raw.search(line)]
    assert not found, found


def test_only_the_dataset_kinds_read_their_names():
    """A kind answers for itself (its check, identity for reuse, confinement): no other module parses it."""
    found = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if 'startswith("imagefolder' in path.read_text() or '== "imagefolder"' in path.read_text()]
    assert not found, found


def test_environment_variables_are_read_in_one_module():
    """`core.settings` lists every variable a teacher can set; no other module reads the environment."""
    found = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if path != PACKAGE / "core" / "settings.py"
             and any(word in path.read_text() for word in ("os.environ", "getenv("))]
    assert not found, found


def test_modules_stay_small():
    """One concern a module: past 300 lines a module is doing two things."""
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 300}
    assert not long, long
