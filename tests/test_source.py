"""grader/source.py: which bytes are a valid models.py, and a clear refusal, with the line, for the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader import source
from grader.source import MAX_NESTING, Source, SourceProblem, check_source

COMPAT = Path(__file__).resolve().parent.parent / "reference_solutions" / "compat"
REPO = Path(__file__).resolve().parent.parent


def _accepted(data: bytes) -> Source:
    result = check_source(data)
    assert isinstance(result, Source), result
    return result


def _refused(data: bytes) -> SourceProblem:
    result = check_source(data)
    assert isinstance(result, SourceProblem), result
    return result


def test_bom_and_crlf_are_accepted_with_the_text_intact() -> None:
    result = _accepted(b"\xef\xbb\xbf# caf\xc3\xa9\r\nx = 1\r\ny = 2\r\n")
    assert result.text == "# café\nx = 1\ny = 2\n"
    assert result.encoding == "utf-8-sig"


def test_the_course_bom_crlf_case_is_accepted() -> None:
    data = (COMPAT / "bom_crlf.py").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    _accepted(data)


def test_old_mac_line_endings_are_accepted() -> None:
    assert _accepted(b"x = 1\ry = 2\r").text == "x = 1\ny = 2\n"


def test_latin1_without_a_coding_line_is_refused_with_its_line() -> None:
    problem = _refused(b"import nn\n\n# a\xf1o de la asignatura\nx = 1\n")
    assert problem.line == 3
    assert "Line 3 is not valid UTF-8" in problem.message
    assert "coding: latin-1" in problem.message and "UTF-8" in problem.message


@pytest.mark.parametrize("cookie", [b"# -*- coding: latin-1 -*-", b"# vim: set fileencoding=iso-8859-1 :"])
def test_latin1_with_a_coding_line_is_accepted(cookie: bytes) -> None:
    result = _accepted(cookie + b"\n# a\xf1o\nnombre = 'Espa\xf1a'\n")
    assert "año" in result.text and result.encoding == "iso-8859-1"


def test_coding_line_on_line_two_is_honoured() -> None:
    _accepted(b"#!/usr/bin/env python\n# coding: latin-1\nx = '\xe9'\n")


def test_unknown_encoding_is_refused() -> None:
    problem = _refused(b"# coding: klingon\nx = 1\n")
    assert problem.line == 1 and "klingon" in problem.message


def test_bom_contradicting_the_coding_line_is_refused() -> None:
    problem = _refused(b"\xef\xbb\xbf# coding: latin-1\nx = 1\n")
    assert problem.line is not None and "coding line" in problem.message


def test_utf16_is_refused_with_the_fix() -> None:
    problem = _refused("x = 1\n".encode("utf-16"))
    assert "UTF-16" in problem.message and "UTF-8" in problem.message


def test_nul_bytes_are_refused_with_their_line() -> None:
    problem = _refused(b"x = 1\ny = 2\x00\n")
    assert problem.line == 2 and "NUL" in problem.message


def test_binary_file_is_refused() -> None:
    problem = _refused(bytes(range(256)) * 4)
    assert "not a text file" in problem.message


@pytest.mark.parametrize(("data", "line", "words"), [
    (b"def f(:\n    pass\n", 1, "Syntax error on line 1"),
    (b"x = 1\nclass A:\ndef f(self):\n", 3, "Syntax error on line 3"),
    (b"x = 1\r\n\r\nreturn 2\r\n", 3, "'return' outside function"),
    (b"match x:\n    case 1:\n        pass\n", 3, "Python 3.9"),
    (b"try:\n    pass\nexcept* ValueError:\n    pass\n", 4, "Python 3.9"),
])
def test_syntax_errors_name_the_line(data: bytes, line: int, words: str) -> None:
    problem = _refused(data)
    assert problem.line == line
    assert words in problem.message


@pytest.mark.parametrize("expression", [
    "(" * 100_000 + "1" + ")" * 100_000,
    "-" * 100_000 + "1",
    "+".join(["1"] * 100_000),
    "not " * 100_000 + "x",
    "a" + ".b" * 100_000,
    "f" + "()" * 100_000,
    "lambda: " * 100_000 + "1",
])
def test_deeply_nested_expressions_are_a_clear_refusal(expression: str) -> None:
    problem = check_source(f"import nn\n\nx = {expression}\n".encode(), max_bytes=2**20)
    assert isinstance(problem, SourceProblem) and problem.line == 3, problem
    assert "Line 3" in problem.message or "line 3" in problem.message
    assert "Split" in problem.message


def test_nesting_cap_is_the_same_on_every_python() -> None:
    just_inside = "x = " + "+".join(["1"] * (MAX_NESTING - 5)) + "\n"
    _accepted(just_inside.encode())
    problem = _refused(("x = " + "+".join(["1"] * (MAX_NESTING + 5)) + "\n").encode())
    assert problem.line == 1 and str(MAX_NESTING) in problem.message


def test_empty_and_oversized_files_are_refused() -> None:
    assert "empty" in _refused(b"").message
    assert "empty" in _refused(b"  \n\n").message
    problem = check_source(b"x = 1\n" * 100, max_bytes=100)
    assert isinstance(problem, SourceProblem) and "larger than the limit of 100 bytes." in problem.message


@pytest.mark.parametrize(("max_bytes", "shown"), [
    (200_000, "195.3 KB"), (256 * 1024, "256 KB"), (1024, "1 KB"), (5 * 2**20, "5 MB"), (1536 * 1024, "1.5 MB"),
])
def test_the_size_limit_is_said_in_units_people_read(max_bytes: int, shown: str) -> None:
    """The portal reads max_bytes + 1 bytes of a larger file: the message names the limit, never that count."""
    problem = check_source(b"x = 1\n" * (max_bytes // 6 + 1), max_bytes=max_bytes)
    assert isinstance(problem, SourceProblem)
    assert f"larger than the limit of {shown}." in problem.message
    assert str(max_bytes + 1) not in problem.message and str(max_bytes) not in problem.message


def test_never_runs_the_code_and_tolerates_invalid_escapes() -> None:
    _accepted(b"raise SystemExit('ran')\nx = '\\d'\n")


def test_reference_solutions_are_all_accepted() -> None:
    for path in sorted((REPO / "reference_solutions").rglob("*.py")):
        data = path.read_bytes()
        compiles = True
        try:
            compile(data, str(path), "exec", dont_inherit=True)
        except SyntaxError:
            compiles = False
        assert isinstance(check_source(data), Source) == compiles, path


def test_the_module_itself_is_python_39() -> None:
    ast.parse(Path(source.__file__).read_text(), feature_version=(3, 9))


class _NoRunner:
    name = "none"

    def run(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("a refused file must not be run")


def test_grading_refuses_what_the_portal_refuses_without_running_it(tmp_path: Path) -> None:
    from grader.config import AssignmentConfig
    from grader.grading import grade_question

    path = tmp_path / "models.py"
    path.write_bytes(b"x = 1\n# a\xf1o\n")
    result = grade_question(path, "q1", AssignmentConfig(), _NoRunner(), tmp_path)  # type: ignore[arg-type]
    assert (result.outcome, result.points, result.max_points) == ("error", 0, 6)
    assert "Line 2 is not valid UTF-8" in result.counted.detail
    assert result.counted.error is not None and result.counted.error.type == "InvalidSource"


def test_cli_refuses_with_the_same_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "models.py"
    path.write_bytes(b"x = 1\n# a\xf1o\n")
    done = subprocess.run([sys.executable, "-m", "cli.main", "grade", str(path), "--runner", "local"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Line 2 is not valid UTF-8" in done.stderr


def test_non_utf8_on_the_first_line_names_the_byte() -> None:
    problem = _refused(b"x = '\xff\xfe'\n")
    assert problem.line == 1 and "Line 1 is not valid UTF-8 text (byte 0xff)" in problem.message
