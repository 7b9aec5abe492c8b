"""Top-level imports of missing modules bind placeholders (grader.missing_imports), and what the student sees."""

from __future__ import annotations

import builtins
import importlib.util
import itertools
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from grader.config import AssignmentConfig
from grader.grading import grade_question
from grader.limits import Limits
from grader.missing_imports import MissingImports, placeholders_for_missing_imports, top_level_import_lines
from grader.report import Attempt, QuestionResult
from sandbox.engine import Engine
from sandbox.runner import DockerRunner, DockerSettings

REFERENCE = Path(__file__).resolve().parent.parent / "reference_solutions"
EXPECTED = json.loads((REFERENCE / "expected.json").read_text())["imports"]
ABSENT = "nngrade_absent_module"
ORIGINAL_IMPORT = builtins.__import__
_names = itertools.count()


def load(tmp_path: Path, source: str) -> tuple[ModuleType, MissingImports]:
    """Run `source` as models.py's top-level code, the way the attempt imports it."""
    path = tmp_path / "models.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"models_under_test_{next(_names)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    record = MissingImports()
    with placeholders_for_missing_imports(path, record):
        spec.loader.exec_module(module)
    return module, record


def test_an_unused_import_of_a_missing_module_is_ignored_with_a_warning(tmp_path: Path) -> None:
    module, record = load(tmp_path, f"import os\nimport {ABSENT}\nfrom {ABSENT}.sub import thing, other\nVALUE = 3\n")
    assert module.VALUE == 3 and module.os.sep == "/"
    assert record.warnings() == [
        f"line 2 imports `{ABSENT}`, which is not available here; unused, so ignored",
        f"line 3 imports `{ABSENT}.sub`, which is not available here; unused, so ignored",
    ]
    # A placeholder is never the module: nothing else can import it.
    assert ABSENT not in sys.modules and not any(name.startswith(ABSENT) for name in sys.modules)
    assert builtins.__import__ is ORIGINAL_IMPORT
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(ABSENT)


def test_using_a_placeholder_raises_a_clear_error_and_the_warning_says_so(tmp_path: Path) -> None:
    module, record = load(tmp_path, f"""\
        import {ABSENT} as alias
        from {ABSENT} import helper

        def use_module():
            return alias.run(1)

        def use_name():
            return helper(2)
        """)
    with pytest.raises(ModuleNotFoundError, match=rf"`{ABSENT}` is not available in the grader: models.py line 1"):
        module.use_module()
    with pytest.raises(ModuleNotFoundError, match=rf"your code uses `{ABSENT}.helper`"):
        module.use_name()
    assert record.warnings()[0].endswith("your code used it, which raised an error")


@pytest.mark.parametrize(
    "use",
    ["p.attr", "p.attr = 1", "p()", "p[0]", "list(p)", "len(p)", "1 in p", "del p.attr"],
)
def test_every_kind_of_use_raises(tmp_path: Path, use: str) -> None:
    module, _ = load(tmp_path, f"import {ABSENT} as p\ndef use():\n    {use}\n")
    with pytest.raises(ModuleNotFoundError):
        module.use()


def test_imports_in_functions_and_try_blocks_behave_as_before(tmp_path: Path) -> None:
    module, record = load(tmp_path, f"""\
        try:
            import {ABSENT}
            FOUND = True
        except ImportError:
            FOUND = False

        def later():
            import {ABSENT}
        """)
    assert module.FOUND is False
    with pytest.raises(ModuleNotFoundError, match=f"No module named '{ABSENT}'"):
        module.later()
    assert record.warnings() == []


def test_modules_that_exist_but_fail_keep_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "nngrade_raises_at_import.py").write_text("raise RuntimeError('broken on purpose')\n")
    (lib / "nngrade_needs_absent.py").write_text(f"import {ABSENT}\n")
    monkeypatch.syspath_prepend(str(lib))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError, match="broken on purpose"):
        load(work, "import nngrade_raises_at_import\n")
    with pytest.raises(ImportError, match="cannot import name"):
        load(work, "from json import no_such_name\n")
    # A real package lacking a submodule is not a missing module: the package is there.
    with pytest.raises(ModuleNotFoundError, match=r"json\.no_such_submodule"):
        load(work, "import json.no_such_submodule\n")
    # A module that is there but needs a missing one (turtle without tkinter) gets a placeholder.
    _, record = load(work, "from nngrade_needs_absent import forward\n")
    assert record.warnings() == [
        f"line 1 imports `nngrade_needs_absent`, which is not available here (it needs `{ABSENT}`); unused, so ignored"
    ]


def test_star_imports_bind_nothing_and_the_hook_is_removed_afterwards(tmp_path: Path) -> None:
    module, record = load(tmp_path, f"from {ABSENT} import *\n")
    assert [name for name in vars(module) if not name.startswith("__")] == []
    assert len(record.found) == 1
    assert builtins.__import__ is ORIGINAL_IMPORT


def test_top_level_lines_skip_functions_classes_and_try() -> None:
    source = textwrap.dedent("""\
        import a
        if True:
            from b import (c,
                           d)
        try:
            import e
        except ImportError:
            pass
        def f():
            import g
        class H:
            import i
        from . import j
        """).encode()
    assert top_level_import_lines(source) == {1, 3, 4}
    assert top_level_import_lines(b"def broken(:\n") == frozenset()


def _check(result: QuestionResult, case: dict[str, object]) -> None:
    attempt: Attempt = result.counted
    assert (result.points, result.outcome) == (case["points"], case["outcome"]), attempt.detail
    assert list(attempt.warnings) == case["warnings"]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_import_cases_in_the_docker_sandbox(name: str, docker_engine: Engine, data_dir: Path) -> None:
    case = EXPECTED[name]
    config = AssignmentConfig(questions=("q1",), limits={"q1": Limits(wall_s=120.0, memory_mb=1024)})
    with DockerRunner(DockerSettings(data_dir=data_dir), engine=docker_engine) as runner:
        result = grade_question(REFERENCE / case["file"], case["question"], config, runner, data_dir)
    _check(result, case)
    if case["outcome"] == "error":
        error = result.counted.error
        assert error is not None and error.type == "ModuleNotFoundError"
        assert "`click` is not available in the grader: models.py line 3 imports it" in error.message
        assert any("remove imports" in hint for hint in result.hints)
