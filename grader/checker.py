"""The starter kit's checker: grade models.py on a student's own machine with the server's grading loop.

`python check.py [q1] [q2]` in the unzipped kit runs `main`. It grades with `grade_submission`, the loop the
server runs, through the local runner (a fresh Python process per attempt, the same harness as the sandbox),
with the assignment's seeds and limits from kit.json, and prints the table `nngrade grade` prints. q2 is
scored on the 5,000 validation images: the test labels exist only on the server. The MNIST data comes as one
compressed file (`mnist-public.npz`, never the test labels) that the checker finds in the kit or downloads
from the portal with the link kit.json carries. Runs on Python 3.9 or newer with NumPy 1.22 to 2.x, on
Linux and macOS (on Windows, inside WSL).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TextIO

from grader import plain_locale
from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.local_runner import LocalRunner
from grader.messages import N_, Message
from grader.source import SourceProblem, check_source
from grader.text_report import escape_controls, render_table

KIT_CONFIG = "kit.json"
# The portal's compiled catalogs, shipped in the kit (web/services/kit.py): <lang>/LC_MESSAGES/messages.mo.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
BUNDLE = "mnist-public.npz"  # the name grader/kit/backend.py reads
# The sandbox's stack: with this NumPy (and the pinned kernels), q1's loss here is the server's to the bit.
SERVER_STACK = ("3.9", "1.22.4")
DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20

Say = Callable[[str], None]


class CheckError(Exception):
    """Something the student must fix before the checker can grade; the message says what."""

    def __init__(self, template: str, **params: Any) -> None:
        self.message = Message(template, {k: str(v) if isinstance(v, Path) else v for k, v in params.items()})
        # The `reason` parameter as translatable sentences, where it has them (a refused models.py).
        self.reasons: tuple[Message, ...] = ()
        super().__init__(self.message.text)


class Speaker:
    """The checker's sentences and the grader's feedback in the kit's language (English without a catalog)."""

    def __init__(self, language: str, locale_dir: Path = LOCALE_DIR) -> None:
        self.language = language if language in plain_locale.LANGUAGES else "en"
        self.translations = plain_locale.catalog(locale_dir, self.language)

    def __call__(self, template: str, **values: Any) -> str:
        return plain_locale.translate(self.translations, self.language, template, **values)

    def message(self, message: Message | None, english: str) -> str:
        return english if message is None else self(message.template, **message.params)


def main(argv: list[str], kit_dir: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the checker for the kit in `kit_dir`; 0 when every question earns full points, 1 otherwise, 2 when
    it cannot grade (the message says why). With --json the report goes to `out` as JSON and everything
    else to `err`."""
    shown = out
    t = Speaker("en")

    def say(text: str) -> None:
        print(text, file=shown, flush=True)

    try:
        kit = load_kit(kit_dir)
        t = Speaker(str(kit.get("language") or "en"))
        args = _parse(argv, kit, t)
        if args.lang:
            t = Speaker(args.lang)
        if args.json:
            shown = err
        config = _config(kit, args)
        models = Path(args.models).resolve() if args.models else kit_dir / "models.py"
        _check_models(models)
        data_dir = Path(args.data_dir).resolve() if args.data_dir else kit_dir / "data"
        if "q2" in config.questions:
            ensure_data(kit, data_dir, say, t)
    except CheckError as problem:
        message = problem.message
        if problem.reasons:
            reason = escape_controls(" ".join(t.message(m, m.text) for m in problem.reasons))
            message = Message(message.template, {**message.params, "reason": reason})
        say(f"check.py: {t.message(message, str(problem))}")
        return 2
    say(environment_line(t))
    say(t(N_("Grading {models} ({questions}; seeds {seeds}) ..."), models=str(models),
          questions=", ".join(config.questions), seeds=", ".join(map(str, config.seeds))))
    progress = _Progress(say, t)
    report = grade_submission(models, config, LocalRunner(data_dir), data_dir, split="validation",
                              on_progress=progress.update)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out, flush=True)
        return 0 if report.total_points == report.max_points else 1
    say("")
    say(render_table(report, say=t.message, words=t))
    if any(q.scored_on == "validation" for q in report.questions):
        say("")
        say(t(N_("q2 here is scored on the validation images; the server scores the test images, whose labels "
                 "only it has, so your grade there may differ by a little. Aim for {target:.1%} here."),
              target=0.975))
    return 0 if report.total_points == report.max_points else 1


def load_kit(kit_dir: Path) -> Mapping[str, Any]:
    """kit.json: the assignment's configuration and where the MNIST data can be downloaded."""
    path = kit_dir / KIT_CONFIG
    try:
        kit: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(N_("cannot read {path} ({problem}): download the starter kit again from the portal"),
                         path=path, problem=str(exc)) from None
    return kit


def environment_line(t: Speaker) -> str:
    """Which Python and NumPy this checker runs on, and what that means for comparing with the server."""
    import numpy

    python, numpy_version = platform.python_version(), numpy.__version__
    line = t(N_("Python {python}, NumPy {numpy} ({system} {machine})."), python=python, numpy=numpy_version,
             system=platform.system(), machine=platform.machine())
    if python.startswith(SERVER_STACK[0] + ".") and numpy_version == SERVER_STACK[1]:
        return line + " " + t(N_("The server runs the same: q1's loss here is the server's to the last digit."))
    return line + " " + t(N_("The server runs Python {python} with NumPy {numpy}: the verdicts are the same, q1's "
                             "loss may differ from the server's in its last digits."),
                          python=SERVER_STACK[0], numpy=SERVER_STACK[1])


def ensure_data(kit: Mapping[str, Any], data_dir: Path, say: Say, t: Speaker | None = None) -> Path:
    """The public MNIST bundle in `data_dir`/public, downloaded from the portal when it is not there yet."""
    t = t or Speaker("en")
    public = data_dir / "public"
    if (public / "train_images.npy").is_file() or (public / BUNDLE).is_file():
        return public
    for found in (data_dir / BUNDLE, data_dir.parent / BUNDLE):
        if found.is_file():
            public.mkdir(parents=True, exist_ok=True)
            os.replace(found, public / BUNDLE)
            return public
    data = kit.get("data") or {}
    url, sha256 = data.get("url"), data.get("sha256")
    if not url or not sha256:
        raise CheckError(N_("q2 needs the MNIST data: download {bundle} from the portal's starter-kit page and "
                            "put it in {folder}"), bundle=BUNDLE, folder=data_dir.parent)
    public.mkdir(parents=True, exist_ok=True)
    say(t(N_("Downloading the MNIST data ({size_mb} MB) from the portal, once ..."),
          size_mb=round(int(data.get("bytes", 0)) / 1e6)))
    _download(str(url), str(sha256), public / BUNDLE, data_dir.parent, str(kit.get("portal") or ""))
    return public


def _download(url: str, sha256: str, dest: Path, kit_dir: Path, portal: str) -> None:
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != sha256:
            raise CheckError(N_("the downloaded MNIST data is damaged (its SHA-256 does not match): run check.py "
                                "again"))
        os.replace(tmp, dest)
    except urllib.error.HTTPError as exc:
        if exc.code in (403, 404):
            raise CheckError(N_("the download link in kit.json has ended (it does when your password changes): "
                                "download the starter kit again from {portal}/kit/, or download {bundle} there "
                                "and put it in {folder}"), portal=portal, bundle=BUNDLE, folder=kit_dir) from None
        raise CheckError(N_("cannot download the MNIST data ({problem}); download {bundle} from the portal's "
                            "starter-kit page and put it in {folder}"),
                         problem=str(exc), bundle=BUNDLE, folder=kit_dir) from None
    except (urllib.error.URLError, OSError) as exc:
        raise CheckError(N_("cannot download the MNIST data ({problem}); download {bundle} from the portal's "
                            "starter-kit page and put it in {folder}"),
                         problem=str(exc), bundle=BUNDLE, folder=kit_dir) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _parse(argv: list[str], kit: Mapping[str, Any], t: Speaker) -> argparse.Namespace:
    questions = list(kit.get("config", {}).get("questions", ["q1", "q2"]))
    parser = argparse.ArgumentParser(
        prog="python check.py",
        description=t(N_("Grades your models.py on this computer with the server's own checks, seeds and limits "
                         "(see README.md).")))
    # No `choices` here: with nargs="*" and no question given, Python before 3.12 refuses the empty list.
    parser.add_argument("questions", nargs="*", metavar="QUESTION",
                        help=t(N_("questions to check: {questions} (default: all)"), questions=", ".join(questions)))
    parser.add_argument("--seed", type=int, help=t(N_("one attempt per question with this seed, no retry")))
    parser.add_argument("--models", help=t(N_("the models.py to check (default: the one in this folder)")))
    parser.add_argument("--data-dir", help=t(N_("where the MNIST data is or goes (default: data/ in this folder)")))
    parser.add_argument("--json", action="store_true", help=t(N_("print the whole report as JSON")))
    parser.add_argument("--lang", choices=plain_locale.LANGUAGES,
                        help=t(N_("the language check.py speaks (default: the kit's, chosen on the portal)")))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            raise CheckError(N_("see the usage above")) from None
        raise
    unknown = [q for q in args.questions if q not in questions]
    if unknown:
        raise CheckError(N_("there is no question {unknown} in this assignment: choose among {questions}"),
                         unknown=", ".join(unknown), questions=", ".join(questions))
    return args


def _config(kit: Mapping[str, Any], args: argparse.Namespace) -> AssignmentConfig:
    try:
        config = AssignmentConfig.from_dict(kit["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckError(N_("{file} is damaged ({problem}): download the starter kit again"), file=KIT_CONFIG,
                         problem=str(exc)) from None
    if args.questions:
        config = replace(config, questions=tuple(q for q in config.questions if q in args.questions))
    if args.seed is not None:
        config = config.with_seed(args.seed)
    return config


def _check_models(models: Path) -> None:
    try:
        problem = check_source(models.read_bytes())
    except OSError as exc:
        raise CheckError(N_("cannot read {path} ({problem})"), path=models, problem=str(exc)) from None
    if isinstance(problem, SourceProblem):
        error = CheckError(N_("the portal would refuse {name}: {reason}"), name=models.name,
                           reason=escape_controls(problem.message))
        error.reasons = problem.localizable
        raise error


class _Progress:
    """A line per attempt as it starts, and the validation accuracy as the model reports it."""

    def __init__(self, say: Say, t: Speaker) -> None:
        self.say = say
        self.t = t
        self.current: tuple[Any, Any] | None = None

    def update(self, event: Mapping[str, Any]) -> None:
        key = (event.get("question"), event.get("seed"))
        if key != self.current:
            self.current = key
            self.say(self.t(N_("  {question}, seed {seed}: training ..."), question=key[0], seed=key[1]))
        if event.get("event") == "validation_accuracy":
            self.say(self.t(N_("  {question}, seed {seed}: validation accuracy {accuracy:.2%}"), question=key[0],
                            seed=key[1], accuracy=float(event["value"])))
