"""The student side of one attempt: import, seed, build, sanity-check, train, evaluate.

Runs in the child process the harness forks. Everything it learns goes to the supervisor as JSON lines
through `send`; nothing here decides points.
"""

from __future__ import annotations

import importlib
import random
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from grader.challenge import load_copy
from grader.kit import KIT_DIR
from grader.missing_imports import MissingImports, placeholders_for_missing_imports
from grader.mnist import check_public_files
from grader.questions import CheckFailed, Question, get_question

Send = Callable[[dict[str, Any]], None]
COMPAT_DIR = Path(__file__).resolve().parent / "compat"

# Progress is throttled: a q1 model may loop over its 200 points thousands of times.
PROGRESS_INTERVAL_S = 0.25


def run_attempt(
    question_id: str,
    seed: int,
    submission_dir: Path,
    data_dir: Path,
    send: Send,
    data_files: Mapping[str, int] | None = None,
    start_student: Callable[[], None] | None = None,
    split: str = "test",
    copy_file: Path | None = None,
    start_copy: Callable[[], None] | None = None,
) -> None:
    """Grade one attempt and send exactly one `final` message (unless the process dies first).

    First, with nothing of the student's loaded, check the kit and (for questions on MNIST) the data; a
    failure there is sent as a `harness_fault`, never as the student's error. `start_student` is called
    just before models.py is imported (the harness starts the CPU-time budget and tells the host then).
    Each stage passed after that is reported as it happens, so the host knows where a run that never
    finished was: an import that never ends is charged once, a timeout inside train() earns the retry.
    `split` names the held-out images q2 predicts ("test" or "validation").

    `copy_file` is the integrity check's copy of the graded images (grader.challenge), read before the student's
    code runs. After the graded prediction, which is reported at once (so the grade stands whatever happens
    next), the same model predicts the copy; how that went is part of the `final` message, never its grade.
    `start_copy` is called just before (the harness lets the copy's prediction run on the grader's time).
    """
    progress = _ProgressForwarder(send)
    missing = MissingImports()
    stage = "kit"
    try:
        question = get_question(question_id)
        nn, backend = _import_kit()
        backend.set_data_dir(str(data_dir))
        backend.set_progress_hook(progress)
        if question.needs_mnist:
            stage = "data"
            problem = check_public_files(data_dir, data_files)
            if problem is not None:
                raise HarnessFault(f"the MNIST data mounted for grading is not usable: {problem}")
        copy_images = None
        if copy_file is not None:
            stage = "copy"
            copy_images = load_copy(copy_file)
        # After the kit: plotting code students kept in models.py imports the headless shim.
        sys.path.insert(sys.path.index(str(KIT_DIR)) + 1, str(COMPAT_DIR))
        sys.path.insert(0, str(submission_dir))
        # Course-era code calls what later releases removed (np.asscalar, np.float, the symbol module):
        # it runs here, and each deprecation is shown once in the student's log, never raised.
        warnings.filterwarnings("default", category=DeprecationWarning)
        # Import-time code is student code too: the seed comes first, as in the course.
        _seed(seed)
    except Exception as exc:
        send({"kind": "harness_fault", "stage": stage, "message": f"{type(exc).__name__}: {exc}"[:2000]})
        return
    if start_student is not None:
        start_student()
    else:
        send({"kind": "stage", "stage": "student"})
    stage = "import"
    copy: dict[str, Any] | None = None
    try:
        with placeholders_for_missing_imports(submission_dir / "models.py", missing):
            models = importlib.import_module("models")
        send({"kind": "stage", "stage": "imported"})
        stage = "build"
        model_class = getattr(models, question.model_class, None)
        if model_class is None:
            raise AttributeError(f"models.py has no class named {question.model_class}")
        model = model_class()
        dataset = question.make_dataset(backend, model)
        send({"kind": "stage", "stage": "built"})
        stage = "sanity"
        loss_node = question.sanity_check(nn, model, dataset)
        send({"kind": "stage", "stage": "sanity_passed", "loss": loss_node})
        stage = "train"
        model.train(dataset)
        send({"kind": "stage", "stage": "trained"})
        stage = "evaluate"
        evaluation = question.evaluate(nn, model, dataset, split)
        if copy_images is not None:
            send({"kind": "stage", "stage": "evaluated", "evaluation": evaluation})
            if start_copy is not None:
                start_copy()
            copy = _predict_copy(question, nn, model, copy_images, submission_dir)
    except CheckFailed as failure:
        # The template and its values too, so the host can show the message in the reader's language.
        send({"kind": "final", "status": "failed_check", "stage": stage, "message": str(failure),
              "template": failure.template,
              "params": {k: v if isinstance(v, (str, int, float)) else str(v) for k, v in failure.params.items()},
              "epochs": progress.epochs, "warnings": missing.warnings()})
        return
    except BaseException as exc:  # student code may raise anything, SystemExit included
        send({"kind": "final", "status": "error", "stage": stage, "error": describe_error(exc, submission_dir),
              "epochs": progress.epochs, "warnings": missing.warnings()})
        return
    final = {"kind": "final", "status": "ok", "stage": "done", "evaluation": evaluation, "epochs": progress.epochs,
             "warnings": missing.warnings()}
    if copy is not None:
        final["copy"] = copy
    send(final)


def _predict_copy(
    question: Question, nn: ModuleType, model: Any, images: Any, submission_dir: Path
) -> dict[str, Any]:
    """The model's answer on the copy, or why there is none: never an exception, the grade is already sent."""
    started = time.process_time()
    try:
        answer = question.predict_copy(nn, model, images)
    except CheckFailed as failure:
        return {"status": "failed_check", "message": str(failure)[:2000]}
    except BaseException as exc:  # student code again: anything, SystemExit included
        try:
            error = describe_error(exc, submission_dir)
        except BaseException:  # an exception whose message itself raises must not cost the sent grade
            error = {"type": "unknown", "message": "an exception that could not be described", "traceback": ""}
        return {"status": "error", "error": error}
    return {"status": "ok", **answer, "cpu_s": round(time.process_time() - started, 4)}


class HarnessFault(Exception):
    """The grader cannot run this attempt (kit or data unusable); reported before any student code runs."""


def _import_kit() -> tuple[ModuleType, ModuleType]:
    from grader.kit import import_kit

    with warnings.catch_warnings():
        # The image lists AVX-512 groups for NumPy to leave unused; on a CPU without them NumPy says so
        # at import, which is no concern of the student's.
        warnings.filterwarnings("ignore", message="During parsing environment variable", category=RuntimeWarning)
        return import_kit()


def _seed(seed: int) -> None:
    import numpy as np

    np.random.seed(seed)
    random.seed(seed)


class _ProgressForwarder:
    """Passes the kit's epoch and validation events on, at most every PROGRESS_INTERVAL_S."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._last_sent = 0.0
        # The exact count, unthrottled, so reports do not depend on timing.
        self.epochs: int | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "validation_accuracy":
            # Rare and informative: always sent.
            self._send({"kind": "progress", "event": kind, "value": float(event["value"])})
            return
        if kind == "epoch":
            self.epochs = int(event["epoch"])
            now = time.monotonic()
            if now - self._last_sent >= PROGRESS_INTERVAL_S:
                self._last_sent = now
                self._send({"kind": "progress", "event": "epoch", "epoch": int(event["epoch"])})


def describe_error(exc: BaseException, submission_dir: Path) -> dict[str, str]:
    """Type, message and a traceback trimmed to frames the student can act on."""
    shown_dirs = (str(submission_dir), str(KIT_DIR))
    lines = ["Traceback (most recent call last):\n"]
    frames = [f for f in traceback.extract_tb(_tb(exc)) if f.filename.startswith(shown_dirs)]
    for frame in frames:
        frame.filename = Path(frame.filename).name
    lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    text = "".join(lines)
    for directory in shown_dirs:
        text = text.replace(directory + "/", "")
    message = str(exc)
    if isinstance(exc, SyntaxError):
        message = f"{exc.msg} (line {exc.lineno})"
    return {"type": type(exc).__name__, "message": message[:2000], "traceback": text[-8000:]}


def _tb(exc: BaseException) -> TracebackType | None:
    return exc.__traceback__
