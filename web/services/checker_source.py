"""The text of check.py, the local checker shipped in the starter kit (kept as text: it runs on students'
machines beside the kit's top-level `nn` and `backend`, not inside nngrade)."""

CHECK_PY = r'''"""Check your models.py on your own machine with the grader's own checks and seeds.

    python check.py            # q1 and q2
    python check.py q1         # only q1
    python check.py q2 --data-dir path/to/mnist

q1 reports the same loss the server computes. q2 reports validation accuracy: the test images' labels
stay on the server, so your grade may differ slightly from what you see here.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import backend  # noqa: E402
import nn  # noqa: E402
import numpy as np  # noqa: E402

from grader.questions import CheckFailed, get_question  # noqa: E402

SEEDS = (0, 1)


def check(question_id: str, seed: int) -> tuple[bool, str]:
    import models

    question = get_question(question_id)
    model_class = getattr(models, question.model_class, None)
    if model_class is None:
        return False, f"models.py has no class {question.model_class}"
    np.random.seed(seed)
    random.seed(seed)
    model = model_class()
    dataset = question.make_dataset(backend, model)
    try:
        question.sanity_check(nn, model, dataset)
    except CheckFailed as failure:
        return False, f"sanity check failed: {failure}"
    print(f"  sanity checks passed ({question.sanity_points} points)")
    started = time.monotonic()
    model.train(dataset)
    took = time.monotonic() - started
    if question_id == "q2":
        accuracy = dataset.get_validation_accuracy()
        ok = question.meets_threshold(accuracy)
        return ok, f"validation accuracy {accuracy:.2%} (goal {question.comparison} {question.threshold:.0%}), " \
                   f"trained in {took:.0f} s"
    evaluation = question.evaluate(nn, model, dataset)
    try:
        value = question.metric(evaluation, HERE).value
    except CheckFailed as failure:
        return False, str(failure)
    ok = question.meets_threshold(value)
    return ok, f"{question.metric_name} {value:.6f} (goal {question.comparison} {question.threshold}), " \
               f"trained in {took:.0f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", default=["q1", "q2"], choices=["q1", "q2"])
    parser.add_argument("--data-dir", help="where the MNIST .npy files are (for q2)")
    args = parser.parse_args()
    if args.data_dir:
        backend.set_data_dir(args.data_dir)
    all_ok = True
    for question_id in args.questions:
        for attempt, seed in enumerate(SEEDS[:2], start=1):
            print(f"{question_id}, attempt {attempt} (seed {seed})")
            ok, message = check(question_id, seed)
            print(f"  {'PASS' if ok else 'MISS'}: {message}")
            if ok or "sanity check failed" in message or "no class" in message:
                break
        all_ok = all_ok and ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
'''
