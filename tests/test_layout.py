"""The package's layout rule, read from the imports: every import points down the layers, never up.

    cli -> callback (and the probe set, checks, summaries) -> dashboard -> monitors -> remedies -> io -> analysis
        -> views -> engine -> adapters -> records (attribution, alerts, validate)

A module may import its own layer and the layers below it. The one exception is the notebook
pattern: `Attribution._repr_html_` imports the views lazily, inside the method.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gradcallback

PACKAGE = Path(gradcallback.__file__).parent
LAYERS = [
    {"attribution", "alerts", "validate"},
    {"adapters"},
    {"engine"},
    {"views"},
    {"analysis"},
    {"io"},
    {"remedies"},
    {"monitors"},
    {"dashboard"},
    {"explaining", "probes", "checks", "guard", "training", "summaries", "callback"},
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}
LAZY_EXCEPTIONS = {("attribution", "views")}  # Jupyter's _repr_html_, imported on first display


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def room(module: str) -> str:
    """The layer a module belongs to: its first component (`engine.backends.jax` -> `engine`)."""
    return module.split(".")[0]


def imported(path: Path) -> list[tuple[str, bool]]:
    """(module imported, inside a function?) for every import of the package in `path`."""
    tree, found = ast.parse(path.read_text()), []
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            if isinstance(node, ast.Import) and any(a.name.startswith("gradcallback.") for a in node.names):
                found += [(a.name.split(".", 1)[1], False) for a in node.names if a.name.startswith("gradcallback.")]
            continue
        if node.level == 0 and not (node.module or "").startswith("gradcallback"):
            continue
        base = package[:len(package) - node.level + 1] if node.level else []
        target = ".".join(base + ((node.module or "").split(".") if node.module else []))
        target = target.removeprefix("gradcallback").lstrip(".")
        lazy = node not in tree.body
        if target:
            found.append((target, lazy))
        else:  # `from gradcallback import explain`: the lazy root export's own module
            # (`__version__` is the root's own constant, below every layer)
            found += [(gradcallback._EXPORTS[a.name], lazy) for a in node.names if a.name in gradcallback._EXPORTS]
    return found


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        if room(source) not in RANK:
            problems.append(f"{source}: in no layer")
            continue
        for target, lazy in imported(path):
            up = RANK[room(target)] > RANK[room(source)]
            if up and not (lazy and (room(source), room(target)) in LAZY_EXCEPTIONS):
                problems.append(f"{source} imports {target}")
    return problems


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: an engine module that imports a view is reported."""
    fake = tmp_path / "gradcallback"
    (fake / "engine").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "engine" / "bad.py").write_text("from ..views.progress import progress_bar\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert upward_imports() == ["engine.bad imports views.progress"]


def test_the_root_shows_the_pipeline():
    root = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(root) <= 12, root
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == {
        "adapters", "analysis", "cli", "dashboard", "engine", "io", "monitors", "remedies", "views"}


def test_the_test_harness_is_not_in_the_package():
    text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert "playwright" not in text.lower() and "def serving(" not in text


def test_the_heavy_files_run_first_in_the_suite(request):
    """conftest's HEAVY_FIRST names test files that exist (a renamed file would silently lose its place)."""
    from conftest import HEAVY_FIRST

    tests = Path(__file__).parent
    assert [name for name in HEAVY_FIRST if not (tests / name).is_file()] == []
    assert len(set(HEAVY_FIRST)) == len(HEAVY_FIRST)
    assert request.config.option.loadscopereorder is False  # xdist keeps the collection's file order
