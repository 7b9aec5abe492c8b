"""`nngrade grade`: reproducing one attempt (--seed, --time-limit-s), never running student code unisolated
unless asked, and student text shown as data, never obeyed by the terminal."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from scripted import ScriptedRunner

from cli.app import build_parser, run
from cli.grade import AttemptProgress, _word, grading_config
from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.report import ErrorInfo
from grader.text_report import escape_controls, render_table

REPO = Path(__file__).resolve().parent.parent
HOSTILE_TERMINAL = REPO / "reference_solutions" / "hostile" / "terminal_escapes.py"
NO_TRAINING = REPO / "reference_solutions" / "broken" / "no_training.py"
# Everything a terminal obeys, apart from the newline and the tab.
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2Kgone", "\\x1b[2Kgone"),
        ("10%\r20%", "10%\\x0d20%"),
        ("abc\b\bX", "abc\\x08\\x08X"),
        ("\x9b2J", "\\x9b2J"),
        ("\x07\x00\x7f", "\\x07\\x00\\x7f"),
        ("safe\u202eevil", "safe\\u202eevil"),
        ("line one\r\nline two\n\tindented", "line one\nline two\n\tindented"),
        ("plain text, ñandú, 数字", "plain text, ñandú, 数字"),
    ],
)
def test_control_characters_are_escaped_and_line_breaks_kept(text: str, shown: str) -> None:
    assert escape_controls(text) == shown
    one_line = escape_controls(text, keep_newlines=False)
    assert "\n" not in one_line and not RAW_CONTROLS.search(one_line)


def test_the_table_shows_student_text_as_data(tmp_path: Path) -> None:
    submission = tmp_path / "models.py"
    submission.write_text("# a submission\n")
    report = grade_submission(submission, AssignmentConfig(questions=("q1",), seeds=(0,)),
                              ScriptedRunner({0: "error"}), tmp_path)
    evil = "\x1b[1A\x1b[2K\rTotal  6/6\nq1  6/6  passed"
    (question,) = report.questions
    attempt = replace(question.counted, detail="ValueError inside train(): " + evil, log_excerpt=evil + "\b",
                      error=ErrorInfo("ValueError", evil, "Traceback (most recent call last):\nValueError: " + evil))
    report = replace(report, questions=(replace(question, attempts=(attempt,)),))
    table = render_table(report)
    assert not RAW_CONTROLS.search(table)
    assert re.search(r"^q1 +2/6 +error", table, re.MULTILINE)
    assert re.search(r"^Total +2/6", table, re.MULTILINE)
    # The forged lines the submission wrote never start a line of their own: they stay inside our blocks.
    assert not re.search(r"^(Total +6/6|q1 +6/6)", table, re.MULTILINE)
    assert "\\x1b[2K" in table


def test_seed_and_time_limits_reproduce_exactly_one_attempt() -> None:
    parse = build_parser().parse_args
    config = grading_config(parse(["grade", "models.py", "--seed", "1", "--time-limit-s", "42.5"]))
    assert config.seeds == (1,)
    # A CPU-time budget, with the wall-clock backstop an assignment's budget gets.
    assert {q: (config.limits_for(q).cpu_s, config.limits_for(q).wall_s) for q in config.questions} == {
        "q1": (42.5, 102.5), "q2": (42.5, 102.5)}
    assert config.limits_for("q1").memory_mb == AssignmentConfig().limits_for("q1").memory_mb
    exact = grading_config(parse(["grade", "models.py", "--time-limit-s", "180", "--wall-limit-s", "200"]))
    assert (exact.limits_for("q2").cpu_s, exact.limits_for("q2").wall_s) == (180.0, 200.0)
    wall_only = grading_config(parse(["grade", "models.py", "--wall-limit-s", "30"]))
    assert [(wall_only.limits_for(q).cpu_s, wall_only.limits_for(q).wall_s) for q in ("q1", "q2")] == [
        (180.0, 30.0), (600.0, 30.0)]
    default = grading_config(parse(["grade", "models.py", "--question", "q2"]))
    assert default.seeds == (0, 1) and default.questions == ("q2",) and default.limits_for("q2").cpu_s == 600.0


def test_a_bad_time_limit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["grade", str(NO_TRAINING), "--question", "q1", "--time-limit-s", "0"]) == 2
    assert "positive number of seconds" in capsys.readouterr().err


def test_without_an_engine_the_default_runner_refuses_and_names_the_local_runner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sandbox.select

    # The real readiness check, against an engine socket that does not exist.
    real = sandbox.select.DockerSettings
    monkeypatch.setattr(sandbox.select, "DockerSettings",
                        lambda **given: real(**{**given, "base_url": "unix:///nonexistent/docker.sock"}))
    monkeypatch.delenv("NNGRADE_RUNNER", raising=False)
    for argv in ([], ["--runner", "auto"], ["--runner", "docker"]):
        assert run(["grade", str(NO_TRAINING), "--question", "q1", *argv]) == 2
        captured = capsys.readouterr()
        assert "the Docker sandbox cannot grade" in captured.err and "--runner local" in captured.err
        assert captured.out == ""


@pytest.mark.mnist
def test_the_local_runner_is_used_only_when_asked_and_warns(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["grade", str(NO_TRAINING), "--question", "q1", "--runner", "local", "--seed", "3",
                "--time-limit-s", "30", "--data-dir", str(data_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0 and "the local runner isolates nothing" in captured.err
    report = json.loads(captured.out)
    (q1,) = report["questions"]
    assert [a["seed"] for a in q1["attempts"]] == [3] and q1["outcome"] == "below_threshold"
    assert report["config"]["limits"]["q1"]["cpu_s"] == 30.0


@pytest.mark.docker
def test_a_submission_cannot_rewrite_the_instructors_terminal(
    docker_engine: object, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["grade", str(HOSTILE_TERMINAL), "--question", "q1", "--runner", "docker", "--time-limit-s", "60",
                "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    assert code == 0
    assert not RAW_CONTROLS.search(captured.out) and not RAW_CONTROLS.search(captured.err)
    assert re.search(r"^q1 +2/6 +error", captured.out, re.MULTILINE), captured.out
    assert re.search(r"^Total +2/6", captured.out, re.MULTILINE)
    assert not re.search(r"^(Total +6/6|q1 +6/6)", captured.out, re.MULTILINE)
    # What the file tried is visible, as text.
    assert "\\x1b[1A\\x1b[2K" in captured.out and "\\x9b2J" in captured.out and "\\x08" in captured.out
    code = run(["grade", str(HOSTILE_TERMINAL), "--question", "q1", "--runner", "docker", "--time-limit-s", "60",
                "--data-dir", str(data_dir), "--json"])
    out = capsys.readouterr().out
    assert code == 0 and not RAW_CONTROLS.search(out) and json.loads(out)["total_points"] == 2


def test_progress_shows_each_attempts_epoch_and_validation_accuracy() -> None:
    out = io.StringIO()  # not a terminal: each attempt's line is written once, in its final state
    with AttemptProgress(out) as progress:
        for epoch in (1, 2, 3):
            progress.update({"event": "epoch", "epoch": epoch, "question": "q1", "seed": 0})
        progress.update({"event": "epoch", "epoch": 1, "question": "q2", "seed": 0})
        progress.update({"event": "validation_accuracy", "value": 0.9751, "question": "q2", "seed": 0})
        progress.update({"event": "epoch", "epoch": 2, "question": "q2", "seed": 0})
        assert out.getvalue() == ""
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines == ["- q1 seed 0: epoch 3", "- q2 seed 0: epoch 2, validation accuracy 97.51%"]


def test_progress_settles_on_the_epochs_the_report_counts() -> None:
    """Progress comes a few times a second: the final line says what the attempt ran, not the last message."""
    from types import SimpleNamespace

    out = io.StringIO()
    with AttemptProgress(out) as progress:
        progress.update({"event": "epoch", "epoch": 1, "question": "q1", "seed": 0})
        progress.update({"event": "epoch", "epoch": 1, "question": "q1", "seed": 1})
        attempts = [SimpleNamespace(seed=0, epochs=2), SimpleNamespace(seed=1, epochs=5)]
        progress.settle(SimpleNamespace(questions=[SimpleNamespace(question="q1", attempts=attempts)]))
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines == ["- q1 seed 0: epoch 2", "- q1 seed 1: epoch 5"]


def test_progress_speaks_the_tables_language() -> None:
    out = io.StringIO()
    with AttemptProgress(out, partial(_word, "es")) as progress:
        progress.update({"event": "epoch", "epoch": 2, "question": "q2", "seed": 1})
        progress.update({"event": "validation_accuracy", "value": 0.9751, "question": "q2", "seed": 1})
    lines = [line.strip().replace("\xa0", " ") for line in out.getvalue().splitlines()]
    assert lines == ["- q2 semilla 1: época 2, precisión de validación 97,51 %"]


def test_the_table_speaks_spanish_with_lang_es(tmp_path: Path) -> None:
    """Through the installed script: headers and outcomes in Spanish, no outcome codes, numbers in its notation."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nngrade"), "grade", str(NO_TRAINING), "--question", "q1", "--runner",
         "local", "--lang", "es", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^Pregunta +Puntos +Resultado +Métrica +Umbral +Intentos \(semilla: resultado\)", done.stdout,
                     re.MULTILINE), done.stdout
    assert re.search(r"^q1 +2/6 +por debajo del objetivo +pérdida \d+,\d+ +<= 0,02 +0: por debajo del objetivo, "
                     r"1: por debajo del objetivo", done.stdout, re.MULTILINE), done.stdout
    assert "below_threshold" not in done.stdout and "pista:" in done.stdout
    # Times and the first line in the same language and notation.
    assert re.search(r"^Total +2/6 +\(\d+,\d s, local, numpy ", done.stdout, re.MULTILINE), done.stdout
    assert "nngrade: calificando " in done.stderr and " con el ejecutor local" in done.stderr, done.stderr


NOT_LEARNING = '''import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w = nn.Parameter(784, 10)
        self.b = nn.Parameter(1, 10)

    def run(self, x):
        return nn.AddBias(nn.Linear(x, self.w), self.b)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        for x, y in dataset.iterate_once(600):
            gradients = nn.gradients(self.get_loss(x, y), [self.w, self.b])
            self.w.update(gradients[0], 0.0)  # a learning rate of zero: nothing is learnt
            self.b.update(gradients[1], 0.0)
'''


@pytest.mark.mnist
def test_a_q2_model_at_chance_is_told_it_is_not_learning(tmp_path: Path, data_dir: Path) -> None:
    models = tmp_path / "models.py"
    models.write_text(NOT_LEARNING)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nngrade"), "grade", str(models), "--question", "q2", "--runner", "local",
         "--lang", "es", "--seed", "0", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    table_row = re.search(r"^q2 +2/6 +por debajo del objetivo +precisión \d+,\d+\s%", done.stdout, re.MULTILINE)
    assert table_row, done.stdout
    hint = re.search(r"pista: Una precisión del (\d+,\d)\s% es la de adivinar al azar \(10\s%, un dígito de cada "
                     r"diez\): el modelo no está aprendiendo\. .* entre 0,001 y 1\.", done.stdout)
    assert hint, done.stdout
    assert 0.0 < float(hint.group(1).replace(",", ".")) < 20.0
    assert "un poco por encima" not in done.stdout  # not the generic hint for a model near the goal


@pytest.mark.parametrize(("accuracy", "not_learning"), [(0.098, True), (0.1999, True), (0.2, False), (0.9, False)])
def test_only_a_q2_accuracy_near_chance_gets_the_not_learning_hint(accuracy: float, not_learning: bool) -> None:
    from grader.hints import hints_for
    from grader.report import Attempt

    attempt = Attempt(seed=0, outcome="below_threshold", points=2, sanity_passed=True, metric_value=accuracy,
                      detail="", wall_s=1.0, cpu_s=1.0, peak_memory_mb=60.0, epochs=1)
    hints = " ".join(hints_for("q2", attempt))
    assert ("the model is not learning" in hints) is not_learning
    assert ("Train until the validation accuracy is a little above 97%" in hints) is not not_learning
    assert "not learning" not in " ".join(hints_for("q1", attempt))


def test_a_refused_file_is_explained_in_the_chosen_language(tmp_path: Path) -> None:
    models = tmp_path / "models.py"
    models.write_text("class RegressionModel:\n    def run(self, x)\n        return x\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nngrade"), "grade", str(models), "--runner", "local", "--lang", "es",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "no es un models.py válido: Error de sintaxis en la línea 2" in done.stderr, done.stderr
    assert "Syntax error" not in done.stderr and "is not a valid" not in done.stderr
