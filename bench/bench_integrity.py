"""Measure q2's integrity check: what genuine models and cheats score on the copy, and what a copy costs.

    .venv/bin/python bench/bench_integrity.py [--copies 10] [--json FILE] [PATH ...]

In one process on the host (the kit's nn and backend, the host's NumPy, one BLAS thread): each legitimate
submission (PATH, default the q2 models in reference_solutions/staff, compat, patterns, timing and genuine)
and each cheat (reference_solutions/cheats) is trained once with seed 0 as an attempt trains it, then predicts
the graded images and --copies copies made by grader.challenge from fresh keys. Prints, as Markdown tables:
per file the graded accuracy and its gap on the copies (mean and worst); the cheats with their lookup made
looser or stricter (how loose a lookup must be to slip under the threshold), the whole-image nearest neighbour
among them; and the cost of one copy (making and writing it on the host, its size, its prediction). Through
the sandbox, tests/test_integrity_corpus.py grades the same files and `nngrade grade --json` shows each check.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.challenge import COPY_FILE, CopyKey, make_copy, new_key, write_copy  # noqa: E402
from grader.integrity import GAP_THRESHOLD, PASSING_GAP_THRESHOLD, judge_copy  # noqa: E402
from grader.kit import import_kit  # noqa: E402
from grader.missing_imports import MissingImports, placeholders_for_missing_imports  # noqa: E402
from grader.questions import copy_source, get_question  # noqa: E402

REFERENCE = REPO / "reference_solutions"
LEGITIMATE = (REFERENCE / "staff" / "models.py", REFERENCE / "compat", REFERENCE / "patterns",
              REFERENCE / "timing", REFERENCE / "genuine")
CHEATS = REFERENCE / "cheats"
MODEL_CLASS = "DigitClassificationModel"
# Each cheat's lookup made looser or stricter: (file, label, attributes set on the trained model).
HASH_VARIANTS = [(block, levels) for block in (2, 4, 7) for levels in (2, 4, 8, 16)]
NEIGHBOUR_TOLERANCES = (0.01, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
PASSING_ACCURACY = get_question("q2").threshold


@dataclass(frozen=True)
class FileGaps:
    file: str
    train_cpu_s: float
    graded_accuracy: float
    gaps: tuple[float, ...]  # graded minus copy accuracy, one per copy
    copy_predict_s: float  # mean wall seconds of one prediction of the copy
    flagged: int  # copies on which grader.integrity flagged the attempt


@dataclass(frozen=True)
class Variant:
    cheat: str
    lookup: str  # what was varied, in words
    graded_accuracy: float
    copy_accuracy: float  # mean over the copies
    known_on_copy: float  # fraction of copy images the lookup recognised, mean over the copies
    flagged: int  # copies on which grader.integrity flagged the attempt

    @property
    def gap(self) -> float:
        return self.graded_accuracy - self.copy_accuracy


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="models.py files or folders (default: the corpus)")
    parser.add_argument("--copies", type=int, default=10, help="copies per file, each from a fresh key")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var/data")))
    parser.add_argument("--sandbox", type=int, default=0, metavar="N",
                        help="only the cost through the Docker sandbox: N attempts with and N without the copy")
    args = parser.parse_args(argv)
    if args.sandbox:
        rows = sandbox_cost(args.data_dir, args.sandbox)
        print(_table(["submission", "copy", "wall s (median)", "CPU s (median)", "peak MB (median)", "copy CPU s"],
                     rows))
        return 0
    warnings.simplefilter("ignore")  # course-era code warns about NumPy names; nothing to measure there
    nn, backend = import_kit()
    sys.path.insert(sys.path.index(str(REPO / "grader" / "kit")) + 1, str(REPO / "grader" / "compat"))
    backend.set_data_dir(str(args.data_dir / "public"))
    images = np.load(args.data_dir / "public" / "test_images.npy", mmap_mode="r")
    labels = np.load(args.data_dir / "private" / "test_labels.npy")
    cost = measure_cost(args.data_dir)
    keys = [new_key(len(images)) for _ in range(args.copies)]
    copies = [make_copy(images, key) for key in keys]
    predict = _predictor(nn)

    def measured(paths: Sequence[Path]) -> list[FileGaps]:
        rows = [gaps_of(path, backend, predict, images, labels, keys, copies) for path in q2_files(paths)]
        return [row for row in rows if row is not None]

    legitimate = measured(args.paths or LEGITIMATE)
    cheats = measured([CHEATS])
    variants = cheat_variants(backend, predict, images, labels, keys, copies)

    print(_table(["file", "graded", "gap mean", "gap worst", "flagged", "train CPU s", "copy predict s"],
                 [[r.file, f"{r.graded_accuracy:.2%}", _points(float(np.mean(r.gaps))), _points(max(r.gaps)),
                   f"{r.flagged}/{len(r.gaps)}", f"{r.train_cpu_s:.1f}", f"{r.copy_predict_s:.3f}"]
                  for r in [*legitimate, *cheats]]))
    print()
    print(_table(["cheat", "lookup", "graded", "copy (mean)", "known on copy", "gap", "flagged"],
                 [[v.cheat, v.lookup, f"{v.graded_accuracy:.2%}", f"{v.copy_accuracy:.2%}",
                   f"{v.known_on_copy:.0%}", _points(v.gap), f"{v.flagged}/{len(keys)}"]
                  for v in variants]))
    print()
    print(_table(["cost of one copy", "value"], [[k, str(v)] for k, v in cost.items()]))
    worst = max(legitimate, key=lambda r: max(r.gaps))
    print(f"\nthreshold {GAP_THRESHOLD * 100:.2f} points ({PASSING_GAP_THRESHOLD * 100:.2f} when only the graded "
          f"images pass); worst legitimate gap {_points(max(worst.gaps))} "
          f"({worst.file}); {sum(r.flagged for r in legitimate)} of {sum(len(r.gaps) for r in legitimate)} "
          f"legitimate checks flagged; copy parameters {keys[0].describe() | {'secret': '(fresh per copy)'}}")
    if args.json:
        args.json.write_text(json.dumps({
            "threshold": GAP_THRESHOLD, "copies": args.copies, "cost": cost,
            "legitimate": [asdict(r) for r in legitimate], "cheats": [asdict(c) for c in cheats],
            "variants": [asdict(v) | {"gap": v.gap} for v in variants],
        }, indent=2) + "\n")
    return 0


def q2_files(paths: Sequence[Path]) -> list[Path]:
    """The .py files named or found directly in the folders named that define a digit model, in order."""
    found: list[Path] = []
    for path in (p.resolve() for p in paths):
        candidates = sorted(path.glob("*.py")) if path.is_dir() else [path]
        found.extend(p for p in candidates if f"class {MODEL_CLASS}" in p.read_text(encoding="utf-8-sig"))
    return found


def load_trained(path: Path, backend: ModuleType) -> tuple[Any, float]:
    """Import the file as an attempt does (seeded first, missing imports as placeholders) and train its model."""
    name = "bench_integrity_" + "_".join(path.relative_to(REFERENCE).with_suffix("").parts)
    np.random.seed(0)
    random.seed(0)
    started = time.process_time()
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with placeholders_for_missing_imports(path, MissingImports()), contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(module)
        model = getattr(module, MODEL_CLASS)()
        model.train(backend.DigitClassificationDataset(model))
    return model, time.process_time() - started


def gaps_of(path: Path, backend: ModuleType, predict: Callable[[Any, Any], npt.NDArray[Any]], images: Any,
            labels: npt.NDArray[Any], keys: Sequence[CopyKey], copies: Sequence[Any]) -> FileGaps | None:
    try:
        model, train_cpu_s = load_trained(path, backend)
    except Exception as exc:  # a file of the corpus that does not train reaches no evaluation: not measured
        print(f"{path.relative_to(REPO)}: not measured ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    graded = predict(model, images)
    graded_accuracy = float(np.mean(graded == labels))
    gaps, times, flagged = [], [], 0
    for key, copy in zip(keys, copies, strict=True):
        started = time.perf_counter()
        answer = predict(model, copy)
        times.append(time.perf_counter() - started)
        check = _judge(graded, answer, labels, key)
        assert check.gap is not None
        gaps.append(check.gap)
        flagged += check.flagged
    print(f"{path.relative_to(REPO)}: measured", file=sys.stderr)
    return FileGaps(str(path.relative_to(REFERENCE)), round(train_cpu_s, 2), graded_accuracy, tuple(gaps),
                    round(float(np.mean(times)), 4), flagged)


def _judge(graded: npt.NDArray[Any], answer: npt.NDArray[Any], labels: npt.NDArray[Any], key: CopyKey) -> Any:
    """The host's own verdict (grader.integrity, with q2's pass threshold) on one copy's answers."""
    return judge_copy([int(v) for v in graded], {"status": "ok", "predictions": [int(v) for v in answer]}, labels,
                      key, passing_accuracy=PASSING_ACCURACY)


def cheat_variants(backend: ModuleType, predict: Callable[[Any, Any], npt.NDArray[Any]], images: Any,
                   labels: npt.NDArray[Any], keys: Sequence[CopyKey], copies: Sequence[Any]) -> list[Variant]:
    """Each lookup with its parameters changed on the trained cheat: which settings would slip through."""
    variants: list[Variant] = []
    hashing, _ = load_trained(CHEATS / "lookup_downsampled_hash.py", backend)
    for block, levels in HASH_VARIANTS:
        hashing.BLOCK, hashing.LEVELS = block, levels
        variants.append(_variant("lookup_downsampled_hash.py", f"{28 // block}x{28 // block} blocks, {levels} levels",
                                 hashing, predict, images, labels, keys, copies))
    neighbour, _ = load_trained(CHEATS / "lookup_pixel_subsample.py", backend)
    for tolerance in NEIGHBOUR_TOLERANCES:
        neighbour.TOLERANCE = tolerance
        variants.append(_variant("lookup_pixel_subsample.py", f"64 pixels, within {tolerance}", neighbour, predict,
                                 images, labels, keys, copies))
    # The smarter cheat: every pixel, and the nearest graded image whatever its distance.
    neighbour.PIXELS, neighbour.TOLERANCE = np.arange(784), float("inf")
    variants.append(_variant("lookup_pixel_subsample.py", "all 784 pixels, any distance", neighbour, predict,
                             images, labels, keys, copies))
    return variants


def _variant(cheat: str, lookup: str, model: Any, predict: Callable[[Any, Any], npt.NDArray[Any]], images: Any,
             labels: npt.NDArray[Any], keys: Sequence[CopyKey], copies: Sequence[Any]) -> Variant:
    model.remember(images)
    graded = predict(model, images)
    graded_accuracy = float(np.mean(graded == labels))
    accuracies, known, flagged = [], [], 0
    for key, copy in zip(keys, copies, strict=True):
        check = _judge(graded, predict(model, copy), labels, key)
        accuracies.append(check.copy_accuracy)
        flagged += check.flagged
        known.append(float(np.mean([label is not None for label in model.look_up(copy)])))
    return Variant(cheat, lookup, graded_accuracy, float(np.mean(accuracies)), float(np.mean(known)), flagged)


def measure_cost(data_dir: Path, repeats: int = 5) -> dict[str, Any]:
    """Making and writing one copy on the host, its size, and reading it back as the sandbox does."""
    from grader.challenge import load_copy

    source = data_dir / "public" / "test_images.npy"
    images = np.load(source, mmap_mode="r")
    make_s, write_s = [], []
    with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
        for _ in range(repeats):
            key = new_key(len(images))
            started = time.perf_counter()
            make_copy(images, key)
            make_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            write_copy(source, Path(tmp), key)  # makes it again, then writes it: the runner's call
            write_s.append(time.perf_counter() - started)
        size = (Path(tmp) / COPY_FILE).stat().st_size
        started = time.perf_counter()
        float(load_copy(Path(tmp) / COPY_FILE).sum())  # every page read once
        read_s = time.perf_counter() - started
    return {"make (median s)": round(float(np.median(make_s)), 3),
            "make and write, as the runner does (median s)": round(float(np.median(write_s)), 3),
            "file size (MB)": round(size / 1e6, 2), "read every page back (s)": round(read_s, 3)}


TINY_MODEL = """
import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w = nn.Parameter(784, 10)

    def run(self, x):
        return nn.Linear(x, self.w)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        pass
"""


def sandbox_cost(data_dir: Path, repeats: int) -> list[list[str]]:
    """Whole q2 attempts through the Docker sandbox with and without the copy: what the check adds to one."""
    from unittest import mock

    from grader.limits import Limits
    from grader.runs import RunRequest
    from sandbox import DockerRunner, DockerSettings
    from sandbox import runner as sandbox_runner

    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-integrity-") as tmp:
        tiny = Path(tmp) / "models.py"
        tiny.write_text(TINY_MODEL)
        with DockerRunner(DockerSettings(data_dir=data_dir)) as runner:
            staff = REFERENCE / "staff" / "models.py"
            for label, path in (("untrained linear model", tiny), ("staff solution", staff)):
                # Alternated, so that a change in the machine's load falls on both alike.
                runs: dict[bool, list[Any]] = {True: [], False: []}
                for _ in range(repeats):
                    for with_copy in (True, False):
                        with mock.patch.object(sandbox_runner, "copy_source",
                                               copy_source if with_copy else lambda question, split: None):
                            runs[with_copy].append(runner.run(RunRequest(path, "q2", 0, Limits.for_cpu_s(600.0))))
                for with_copy in (True, False):
                    copy_cpu = [_copy_cpu_s(run.observation) for run in runs[with_copy]]
                    rows.append([label, "with" if with_copy else "without",
                                 f"{np.median([r.wall_s for r in runs[with_copy]]):.2f}",
                                 f"{np.median([r.cpu_s for r in runs[with_copy]]):.2f}",
                                 f"{np.median([r.peak_memory_mb for r in runs[with_copy]]):.0f}",
                                 f"{np.median(copy_cpu):.3f}" if with_copy else "-"])
    return rows


def _copy_cpu_s(observation: Any) -> float:
    copy = ((observation or {}).get("final") or {}).get("copy") or {}
    return float(copy.get("cpu_s", float("nan")))


def _predictor(nn: ModuleType) -> Callable[[Any, Any], npt.NDArray[Any]]:
    def predict(model: Any, images: Any) -> npt.NDArray[Any]:
        with contextlib.redirect_stdout(io.StringIO()):
            return np.asarray(np.argmax(model.run(nn.Constant(np.asarray(images))).data, axis=1))

    return predict


def _points(gap: float) -> str:
    return f"{gap * 100:+.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
