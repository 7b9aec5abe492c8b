"""`nngrade grade PATH`: grade one models.py and print the per-question table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from grader import mnist
from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.local_runner import LocalRunner
from grader.messages import N_, Message
from grader.questions import all_questions
from grader.report import Report, to_gradescope
from grader.runs import Runner
from grader.source import SourceProblem, check_source
from grader.text_report import escape_controls, render_table
from nngrade.settings import RUNNER_KINDS, load_settings

if TYPE_CHECKING:
    from rich.progress import TaskID


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `nngrade grade` to the command line."""
    grade = subparsers.add_parser("grade", help="grade one models.py and print its report")
    grade.add_argument("path", type=Path, help="the student's models.py")
    grade.add_argument("--question", choices=[q.id for q in all_questions()], help="grade only this question")
    grade.add_argument("--seed", type=int, metavar="N",
                       help="exactly one attempt per question with this seed, no retry (to reproduce an attempt)")
    grade.add_argument("--time-limit-s", type=float, metavar="S",
                       help="CPU-time budget of every attempt in seconds, instead of each question's own")
    grade.add_argument("--wall-limit-s", type=float, metavar="S",
                       help="wall-clock backstop of every attempt in seconds (default: the one that goes with "
                            "the time limit); with --seed and --time-limit-s, reproduces any attempt exactly")
    grade.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    grade.add_argument("--lang", choices=("en", "es"), default="en",
                       help="the language of the table, details, hints and warnings (default en)")
    grade.add_argument("--gradescope-results", type=Path, metavar="FILE", help="also write Gradescope results.json")
    grade.add_argument("--runner", choices=RUNNER_KINDS,
                       help="where student code runs: the Docker sandbox (default), or `local`, which isolates "
                            "nothing and must be asked for")
    grade.add_argument("--data-dir", type=Path, help="the MNIST cache (default: NNGRADE_DATA_DIR or var/data)")
    grade.set_defaults(handler=_grade)


class RunnerUnavailable(Exception):
    """The Docker sandbox cannot grade here; the message says why."""


def make_runner(kind: str, data_dir: Path) -> Runner:
    """The local runner only when asked for by name; otherwise the Docker sandbox, checked before anything
    runs: RunnerUnavailable (naming `--runner local`) when it cannot grade. Never a silent fallback."""
    if kind == "local":
        return LocalRunner(data_dir)
    try:
        from sandbox import make_runner as make_sandbox_runner
        from sandbox.select import SandboxUnavailable
    except ImportError as exc:
        raise RunnerUnavailable(f"the Docker sandbox cannot grade: its package cannot be imported ({exc}). "
                                "Student code runs unisolated only when asked: --runner local") from exc
    try:
        # "auto" is the sandbox package's readiness check: an engine that is down or an image that is not
        # built is refused now, for an explicit `docker` too, rather than as an infrastructure error per attempt.
        runner: Runner = make_sandbox_runner("auto", data_dir)
    except SandboxUnavailable as exc:
        raise RunnerUnavailable(str(exc)) from exc
    return runner


def grading_config(args: argparse.Namespace) -> AssignmentConfig:
    """The default assignment, narrowed by --question, --seed, --time-limit-s and --wall-limit-s."""
    config = AssignmentConfig()
    if args.question:
        config = replace(config, questions=(args.question,))
    if args.seed is not None:
        config = config.with_seed(args.seed)
    if args.time_limit_s is not None or args.wall_limit_s is not None:
        config = config.with_time_limits(args.time_limit_s, args.wall_limit_s)
    return config


def _grade(args: argparse.Namespace) -> int:
    settings = load_settings()
    data_dir: Path = args.data_dir or settings.data_dir
    shown_path = escape_controls(str(args.path), keep_newlines=False)
    if not args.path.is_file():
        print(f"nngrade grade: {shown_path} is not a file", file=sys.stderr)
        return 2
    try:
        config = grading_config(args)
    except ValueError as exc:
        print(f"nngrade grade: {exc}", file=sys.stderr)
        return 2
    word = partial(_word, args.lang)
    refused = check_source(args.path.read_bytes())
    if isinstance(refused, SourceProblem):
        said = " ".join(_say(args.lang, m, m.text) for m in refused.localizable) or refused.message
        reason = escape_controls(said, keep_newlines=False)
        print("nngrade grade: " + word(N_("{path} is not a valid models.py: {reason}"), path=shown_path, reason=reason),
              file=sys.stderr)
        return 2
    if "q2" in config.questions and (problem := mnist.cache_status(data_dir)) is not None:
        print(f"nngrade grade: MNIST data is not ready ({problem}); run `nngrade data fetch`", file=sys.stderr)
        return 2
    kind = args.runner or settings.runner
    try:
        runner = make_runner(kind, data_dir)
    except RunnerUnavailable as exc:
        print(f"nngrade grade: {exc}", file=sys.stderr)
        return 2
    if runner.name == "local":
        print("nngrade: warning: the local runner isolates nothing: models.py runs as you on this machine and "
              "can read and change your files and use the network. Use it only for code you trust.",
              file=sys.stderr)
    image_digest = getattr(runner, "image_digest", None)  # the Docker runner's
    digest = image_digest() if callable(image_digest) else None
    where = word(N_(" (image {digest})"), digest=digest[:19]) if isinstance(digest, str) else ""
    print("nngrade: " + word(N_("grading {path} with the {runner} runner"), path=str(shown_path), runner=runner.name)
          + where, file=sys.stderr)
    with AttemptProgress(sys.stderr, word) as progress:
        report = grade_submission(args.path, config, runner, data_dir, on_progress=progress.update)
        progress.settle(report)
    if args.gradescope_results:
        args.gradescope_results.write_text(json.dumps(to_gradescope(report), indent=2) + "\n")
    if args.json:
        # JSON escapes every control character (ensure_ascii), so the report is safe to print as it is.
        print(json.dumps(report.to_dict(), indent=2))
    else:
        words = None if args.lang == "en" else word  # English keeps the outcome codes
        print(render_table(report, say=partial(_say, args.lang), words=words, staff=True))
    return 0 if report.gradable else 3


class AttemptProgress:
    """A live line per attempt on `out` (rich): its epoch and latest validation accuracy. On a terminal the
    lines update in place; on a file or pipe each is written once, in its final state, when grading ends."""

    def __init__(self, out: TextIO, word: Callable[..., str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.progress = Progress(SpinnerColumn(finished_text="-"), TextColumn("{task.description}", markup=False),
                                 console=Console(file=out))
        self._tasks: dict[tuple[Any, Any], TaskID] = {}
        self._state: dict[TaskID, dict[str, Any]] = {}
        self.word = word or _english

    def __enter__(self) -> AttemptProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self._tasks.values():
            self.progress.update(task, completed=1)
        self.progress.stop()

    def settle(self, report: Report) -> None:
        """Each attempt's line as the report has it: progress is sent a few times a second, so the last
        epoch seen live may be short of the epochs the attempt ran."""
        for q in report.questions:
            for a in q.attempts:
                if a.epochs is not None and (q.question, a.seed) in self._tasks:
                    self.update({"event": "epoch", "epoch": a.epochs, "question": q.question, "seed": a.seed})

    def update(self, event: Mapping[str, Any]) -> None:
        """One runner event, tagged with "question" and "seed" (grader.grading); epochs and validation
        accuracies are shown, the rest ignored."""
        key = (event.get("question"), event.get("seed"))
        task = self._tasks.get(key)
        if task is None:
            for earlier in self._tasks.values():
                self.progress.update(earlier, completed=1)
            task = self._tasks[key] = self.progress.add_task("", total=1)
            self._state[task] = {}
        state = self._state[task]
        if event.get("event") == "epoch":
            state["epoch"] = event["epoch"]
        elif event.get("event") == "validation_accuracy":
            state["accuracy"] = event["value"]
        if "accuracy" in state:
            text = self.word(N_("{question} seed {seed}: epoch {epoch}, validation accuracy {accuracy:.2%}"),
                             question=key[0], seed=key[1], epoch=state.get("epoch", 0), accuracy=state["accuracy"])
        else:
            text = self.word(N_("{question} seed {seed}: epoch {epoch}"), question=key[0], seed=key[1],
                             epoch=state.get("epoch", 0))
        self.progress.update(task, description=text)


def _english(template: str, **values: Any) -> str:
    return template.format(**values)


def _word(locale: str, template: str, **values: Any) -> str:
    """One of the table's words (a header, an outcome's name, a number's notation) in `locale`."""
    from web.i18n import translate

    return translate(locale, template, **values)


def _say(locale: str, message: Message | None, english: str) -> str:
    """The grader's sentence in `locale` when the report holds it as a template, else its English record."""
    if message is None or locale == "en":
        return english
    from web.i18n import translate

    return translate(locale, message.template, **message.params)
