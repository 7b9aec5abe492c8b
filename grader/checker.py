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
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TextIO

from grader.config import AssignmentConfig
from grader.grading import grade_submission
from grader.local_runner import LocalRunner
from grader.source import SourceProblem, check_source
from grader.text_report import escape_controls, render_table

KIT_CONFIG = "kit.json"
BUNDLE = "mnist-public.npz"  # the name grader/kit/backend.py reads
# The sandbox's stack: with this NumPy (and the pinned kernels), q1's loss here is the server's to the bit.
SERVER_STACK = ("3.9", "1.22.4")
DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20

Say = Callable[[str], None]


class CheckError(Exception):
    """Something the student must fix before the checker can grade; the message says what."""


def main(argv: list[str], kit_dir: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the checker for the kit in `kit_dir`; 0 when every question earns full points, 1 otherwise, 2 when
    it cannot grade (the message says why). With --json the report goes to `out` as JSON and everything
    else to `err`."""
    shown = out

    def say(text: str) -> None:
        print(text, file=shown, flush=True)

    try:
        kit = load_kit(kit_dir)
        args = _parse(argv, kit)
        if args.json:
            shown = err
        config = _config(kit, args)
        models = Path(args.models).resolve() if args.models else kit_dir / "models.py"
        _check_models(models)
        data_dir = Path(args.data_dir).resolve() if args.data_dir else kit_dir / "data"
        if "q2" in config.questions:
            ensure_data(kit, data_dir, say)
    except CheckError as problem:
        say(f"check.py: {problem}")
        return 2
    say(environment_line())
    say(f"Grading {models} ({', '.join(config.questions)}; seeds {', '.join(map(str, config.seeds))}) ...")
    progress = _Progress(say)
    report = grade_submission(models, config, LocalRunner(data_dir), data_dir, split="validation",
                              on_progress=progress.update)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out, flush=True)
        return 0 if report.total_points == report.max_points else 1
    say("")
    say(render_table(report))
    if any(q.scored_on == "validation" for q in report.questions):
        say("")
        say("q2 here is scored on the validation images; the server scores the test images, whose labels only it "
            "has, so your grade there may differ by a little. Aim for 97.5% here.")
    return 0 if report.total_points == report.max_points else 1


def load_kit(kit_dir: Path) -> Mapping[str, Any]:
    """kit.json: the assignment's configuration and where the MNIST data can be downloaded."""
    path = kit_dir / KIT_CONFIG
    try:
        kit: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(f"cannot read {path} ({exc}): download the starter kit again from the portal") from None
    return kit


def environment_line() -> str:
    """Which Python and NumPy this checker runs on, and what that means for comparing with the server."""
    import numpy

    python, numpy_version = platform.python_version(), numpy.__version__
    same = python.startswith(SERVER_STACK[0] + ".") and numpy_version == SERVER_STACK[1]
    line = f"Python {python}, NumPy {numpy_version} ({platform.system()} {platform.machine()})."
    if same:
        return line + " The server runs the same: q1's loss here is the server's to the last digit."
    return line + (f" The server runs Python {SERVER_STACK[0]} with NumPy {SERVER_STACK[1]}: the verdicts are the "
                   "same, q1's loss may differ from the server's in its last digits.")


def ensure_data(kit: Mapping[str, Any], data_dir: Path, say: Say) -> Path:
    """The public MNIST bundle in `data_dir`/public, downloaded from the portal when it is not there yet."""
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
        raise CheckError(f"q2 needs the MNIST data: download {BUNDLE} from the portal's starter-kit page and "
                         f"put it in {public}")
    public.mkdir(parents=True, exist_ok=True)
    say(f"Downloading the MNIST data ({int(data.get('bytes', 0)) >> 20} MB) from the portal, once ...")
    _download(str(url), str(sha256), public / BUNDLE)
    return public


def _download(url: str, sha256: str, dest: Path) -> None:
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                f.write(chunk)
        if digest.hexdigest() != sha256:
            raise CheckError("the downloaded MNIST data is damaged (its SHA-256 does not match): run check.py again")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as exc:
        raise CheckError(f"cannot download the MNIST data ({exc}); download {BUNDLE} from the portal's "
                         f"starter-kit page and put it in {dest.parent}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _parse(argv: list[str], kit: Mapping[str, Any]) -> argparse.Namespace:
    questions = list(kit.get("config", {}).get("questions", ["q1", "q2"]))
    parser = argparse.ArgumentParser(prog="python check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", choices=questions, help="questions to check (default: all)")
    parser.add_argument("--seed", type=int, help="one attempt per question with this seed, no retry")
    parser.add_argument("--models", help="the models.py to check (default: the one in this folder)")
    parser.add_argument("--data-dir", help="where the MNIST data is or goes (default: data/ in this folder)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON (as `nngrade grade --json`)")
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            raise CheckError("see the usage above") from None
        raise


def _config(kit: Mapping[str, Any], args: argparse.Namespace) -> AssignmentConfig:
    try:
        config = AssignmentConfig.from_dict(kit["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckError(f"{KIT_CONFIG} is damaged ({exc}): download the starter kit again") from None
    if args.questions:
        config = replace(config, questions=tuple(q for q in config.questions if q in args.questions))
    if args.seed is not None:
        config = config.with_seed(args.seed)
    return config


def _check_models(models: Path) -> None:
    try:
        problem = check_source(models.read_bytes())
    except OSError as exc:
        raise CheckError(f"cannot read {models} ({exc})") from None
    if isinstance(problem, SourceProblem):
        raise CheckError(f"the portal would refuse {models.name}: {escape_controls(problem.message)}")


class _Progress:
    """A line per attempt as it starts, and the validation accuracy as the model reports it."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.current: tuple[Any, Any] | None = None
        self.started = time.monotonic()

    def update(self, event: Mapping[str, Any]) -> None:
        key = (event.get("question"), event.get("seed"))
        if key != self.current:
            self.current = key
            self.say(f"  {key[0]}, seed {key[1]}: training ...")
        if event.get("event") == "validation_accuracy":
            self.say(f"  {key[0]}, seed {key[1]}: validation accuracy {float(event['value']):.2%}")
