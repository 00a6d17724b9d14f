"""The package layout cannot rot: import direction core ↛ experiments ↛ cli, layer docstrings, module size."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "gendiff"
# What each layer may import from this repository (derivations is the proof package beside gendiff).
ALLOWED = {
    "core": {"core"},
    "integrations": {"core", "integrations"},
    "experiments": {"core", "experiments", "derivations"},
    "cli": {"core", "integrations", "experiments", "cli", "derivations"},
}
MAX_LINES = 300
GENERATED = {"_reference.py"}


def layer_of(module: str) -> str:
    """'gendiff.experiments.runner' -> 'experiments'; top-level gendiff modules are the core."""
    if module.startswith("derivations"):
        return "derivations"
    parts = module.split(".")
    if parts[0] != "gendiff":
        return "external"
    if len(parts) > 1 and parts[1] in ("experiments", "integrations", "cli"):
        return parts[1]
    if module == "gendiff.__main__":
        return "cli"
    return "core"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module imported anywhere in `source` (function bodies included)."""
    pkg = module.split(".") if is_package else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)   # `from . import figures` names a module
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    mine = layer_of(module)
    bad = []
    for imp in sorted(imported_modules(source, module, is_package)):
        other = layer_of(imp)
        if other != "external" and other not in ALLOWED[mine]:
            bad.append(f"{module} ({mine}) imports {imp} ({other})")
    return bad


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_import_direction(path):
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_docstring_names_the_layer_and_module_is_small(path):
    src = path.read_text()
    doc = ast.get_docstring(ast.parse(src))
    if path.name in GENERATED:
        assert "do not edit" in src.lower()
        return
    assert len(src.splitlines()) <= MAX_LINES, f"{path.name}: {len(src.splitlines())} lines"
    if path.name == "__main__.py":
        return
    assert doc, f"{path} has no module docstring"
    layer = layer_of(module_name(path))
    assert f"Layer: {layer}" in doc, f"{path}: docstring must say 'Layer: {layer} — …'"


@pytest.mark.parametrize("source,module,package", [
    ("from .experiments.runner import PROFILES", "gendiff.tables", False),       # core -> experiments
    ("def f():\n    from ..cli import main\n", "gendiff.experiments.runner", False),   # lazy import counts
    ("from gendiff.cli.experiment import PROFILE_NAMES", "gendiff.samplers", False),
    ("from .. import experiments", "gendiff.integrations.diffusers", False),
    ("from derivations import MODULES", "gendiff.tables", False),                # core -> derivations
])
def test_checker_catches_a_wrong_direction(source, module, package):
    assert violations(source, module, package), "the checker missed a forbidden import"


def test_checker_accepts_the_allowed_directions():
    assert violations("from ..tables import build_tables\nfrom .data import make_split",
                      "gendiff.experiments.runner") == []
    assert violations("from . import derive, report", "gendiff.cli", True) == []
