"""The import picture of README's "Layout": the layers contract holds, no module imports itself through a
circle, the pure core imports only numpy and the standard library, and only entry points read settings."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("grader", "sandbox", "worker", "web", "gradebook", "cli", "nngrade")
# Where `load_settings` may be called: the processes' entry points (README, "Configuration").
ENTRY_POINTS = {"cli", "web/wsgi.py", "worker/__main__.py", "nngrade/settings.py"}
# The student kit's own modules: student files say `import nn`, so the kit imports them by those names too.
KIT_MODULES = {"nn", "backend"}


def import_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One circle of imports among the graph's modules (importer first, repeated at the end), or None."""
    try:
        TopologicalSorter({m: graph.find_modules_directly_imported_by(m) for m in graph.modules}).prepare()
    except CycleError as exc:
        cycle: list[str] = exc.args[1]
        return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def test_the_import_contracts_are_kept() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "layers" in done.stdout


def test_no_module_imports_itself_through_a_circle(graph: grimp.ImportGraph) -> None:
    # Imports inside functions count too: a circle there is a tangle to read even when Python tolerates it.
    assert import_cycle(graph) is None, " -> ".join(import_cycle(graph) or [])


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for module in ("w", "w.api", "w.app", "w.sweep", "w.options"):
        graph.add_module(module)
    graph.add_import(importer="w.api", imported="w.app")
    graph.add_import(importer="w.app", imported="w.sweep")
    graph.add_import(importer="w.sweep", imported="w.options")
    assert import_cycle(graph) is None
    graph.add_import(importer="w.sweep", imported="w.api")
    cycle = import_cycle(graph)
    assert cycle is not None and set(cycle) == {"w.api", "w.app", "w.sweep"} and cycle[0] == cycle[-1]


def test_the_pure_core_imports_only_numpy_and_the_standard_library(graph: grimp.ImportGraph) -> None:
    external = {m for m in graph.modules if "." not in m and m not in PACKAGES}
    used = {m for m in external
            if any(i.split(".")[0] == "grader" for i in graph.find_modules_that_directly_import(m))}
    foreign = sorted(m for m in used if m not in {"numpy", *KIT_MODULES, *sys.stdlib_module_names})
    assert not foreign, f"grader imports {foreign}: it runs in the sandbox, which has only numpy"


def test_only_entry_points_read_the_settings() -> None:
    callers = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_bytes())
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            if "load_settings" in names:
                callers.add(path.relative_to(REPO).as_posix())
    outside = sorted(c for c in callers if c.split("/")[0] not in ENTRY_POINTS and c not in ENTRY_POINTS)
    assert not outside, f"{outside} read the environment's settings; pass a Settings down instead"
