"""The course's own q1 numbers, to the last bit: our nn (and the literal stand-in) on the era stack.

    .venv/bin/python bench/compat_bits.py [--compat reference_solutions/compat] [--variants ours,literal] [--here]

For every file in expected_course_values.json and seeds 0 and 1, one fresh process imports the kit,
seeds numpy and random, imports models.py, trains RegressionModel and computes
0.5 * mean((run(x) - y)^2) over dataset.x and dataset.y as train() left them; the float must equal the
course's value exactly. Runs in the era stack's container (bench/era_stack.py) unless --here. A check
for benchmarks and nn changes, not a test of the grader (the sandbox has its own).
Exits non-zero on any difference.
"""

import argparse
import json
import os
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_COMPAT = os.path.join(REPO, "reference_solutions", "compat")
SEEDS = (0, 1)

# One attempt, in a fresh interpreter. Modules that cannot load here (a display, a package nobody
# installed) become empty modules, as the grader's placeholder makes them.
ATTEMPT = r"""
import importlib, random, sys, types
kit, submission, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in ("turtle", "click"):
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = types.ModuleType(name)
        sys.modules[name].__getattr__ = lambda attribute: None
sys.path[:0] = kit.split(":")
import numpy as np
import nn, backend
np.random.seed(seed)
random.seed(seed)
sys.path.insert(0, submission)
import models
model = models.RegressionModel()
dataset = backend.RegressionDataset(model)
model.train(dataset)
predicted = model.run(nn.Constant(dataset.x)).data
print(repr(float(0.5 * np.mean(np.square(predicted - dataset.y)))))
"""


def kit_path(variant, repo):
    kit = os.path.join(repo, "grader", "kit")
    return kit if variant == "ours" else os.path.join(repo, "bench", "literal_kit") + ":" + kit


def check_here(compat_dir, variants, repo):
    with open(os.path.join(compat_dir, "expected_course_values.json")) as handle:
        expected = json.load(handle)["files"]
    failures = 0
    for name, values in sorted(expected.items()):
        for seed in SEEDS:
            want = values[f"q1_seed{seed}_loss"]
            for variant in variants:
                submission = os.path.join("/tmp", f"compat-{variant}-{seed}-{name[:-3]}")
                os.makedirs(submission, exist_ok=True)
                with open(os.path.join(compat_dir, name), "rb") as source:
                    data = source.read()
                with open(os.path.join(submission, "models.py"), "wb") as target:
                    target.write(data)
                done = subprocess.run([sys.executable, "-c", ATTEMPT, kit_path(variant, repo), submission, str(seed)],
                                      capture_output=True, text=True, cwd="/tmp",
                                      env=dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1"))
                lines = done.stdout.strip().splitlines()
                got = float(lines[-1]) if done.returncode == 0 and lines else None
                same = got is not None and got == want
                failures += not same
                print("{:<32} seed {} {:<8} {:<24} {}".format(
                    name, seed, variant, repr(got) if got is not None else done.stderr.strip()[-200:],
                    "same bits" if same else f"DIFFERS from {want!r}"), flush=True)
    import platform

    import numpy
    print("python {}, numpy {}, OPENBLAS_CORETYPE={}: {} difference(s)".format(
        platform.python_version(), numpy.__version__, os.environ.get("OPENBLAS_CORETYPE", "(auto)"), failures))
    return failures


def main():
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--compat", default=DEFAULT_COMPAT)
    parser.add_argument("--variants", default="ours,literal")
    parser.add_argument("--here", action="store_true", help="run with this interpreter, not the era stack")
    parser.add_argument("--repo", default=REPO)
    args = parser.parse_args()
    variants = [variant for variant in args.variants.split(",") if variant]
    if args.here:
        sys.exit(1 if check_here(args.compat, variants, args.repo) else 0)
    sys.path.insert(0, BENCH_DIR)
    import era_stack

    image = era_stack.ensure()
    sys.path.insert(0, REPO)
    from grader.numerics import PINNED_NUMERICS_ENV

    command = ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001", "--tmpfs", "/tmp"]
    for name, value in PINNED_NUMERICS_ENV.items():  # the kernels the sandbox pins
        command += ["-e", f"{name}={value}"]
    command += ["-v", REPO + ":/repo:ro", "-v", os.path.abspath(args.compat) + ":/compat:ro", image,
                "python3", "-B", "/repo/bench/compat_bits.py", "--here", "--compat", "/compat", "--repo", "/repo",
                "--variants", args.variants]
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
