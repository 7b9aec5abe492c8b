"""Training steps as grading runs them: one fresh process per measurement, student workload shapes.

    .venv/bin/python bench/bench_nn_step.py [--era] [--shapes q1,q2] [--rounds 5]
        [--allocators default,glibc-tuned,jemalloc] [--q1-steps 2000] [--q2-steps 600]

Shapes (bench/nn_workloads.py): q1, a student's 1-200-1 net at batch 200 with the whole-data loss after
every step; q1s, the staff solution's 1-64-1 net at batch 20; q2, 784-200-10 at batch 100 on MNIST with
get_validation_accuracy after each epoch. --q1-steps counts steps for both q1 shapes.

Each measurement is one `bench/nn_workloads.py` process (imports, dataset, then the timed loop), so
allocator state, page faults and caches are those of a graded attempt, not of a warm benchmark loop.
Variants per round, in a fresh random order: our nn, the numpy floor, the contract implemented literally
(the course kit's stand-in). Every (allocator, shape) cell runs all variants in the same round, so a ratio
is taken between neighbours in time; the figure is the median over rounds of those per-round ratios.
Times are the loop's CPU seconds (user + system, page faults included) per step: on a shared machine
CPU time moves far less than wall time; wall time is printed beside it.

--baseline DIR adds a fourth variant, "base": our nn as another checkout has it (e.g. the commit before a
change, from `git archive COMMIT | tar -x -C DIR`), measured in the same rounds, so a change's effect is a
ratio between neighbours in time too; its final bits must equal ours.

--era runs everything in the era stack's container (Debian bullseye, Python 3.9, numpy 1.22.4; see
bench/era_stack.py), with the checkout, the baseline and the MNIST cache mounted read-only and no network.
One BLAS thread everywhere; with --era, the kernels pinned as the sandbox pins them (grader/numerics.py).
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
WORKLOAD = os.path.join(BENCH_DIR, "nn_workloads.py")
VARIANTS = ("floor", "ours", "literal")
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# glibc: big arrays from the heap instead of fresh mmaps, and no trimming of the heap top after each free.
GLIBC_TUNED = {"MALLOC_MMAP_THRESHOLD_": "4194304", "MALLOC_TRIM_THRESHOLD_": "134217728"}
ALLOCATORS = {
    "default": {},
    "glibc-tuned": GLIBC_TUNED,
    "glibc-32m": {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "268435456",
                  "MALLOC_TOP_PAD_": "16777216"},
    "glibc-top-pad": {"MALLOC_TOP_PAD_": "16777216"},
    "jemalloc": {"LD_PRELOAD": JEMALLOC},
}
THREAD_ENV = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(variant, shape, steps, allocator, data_dir, baseline=None):
    """Run one workload process; its own loop timings plus what the kernel says it cost."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_") and key != "LD_PRELOAD"}
    env.update(THREAD_ENV)
    env.update(ALLOCATORS[allocator])
    # NumPy's notice about the AVX-512 groups a CPU lacks (grader/numerics.py) says nothing about the run.
    workload = WORKLOAD if variant != "base" else os.path.join(baseline, "bench", "nn_workloads.py")
    command = [sys.executable, "-W", "ignore:During parsing environment variable:RuntimeWarning", workload,
               "--variant", "ours" if variant == "base" else variant, "--shape", shape, "--steps", str(steps),
               "--data-dir", data_dir]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
    out = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    process.returncode = status  # reaped by wait4 above
    if status != 0:
        raise RuntimeError(f"{variant} {shape} {allocator} failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(process_wall_s=wall_s, process_cpu_s=usage.ru_utime + usage.ru_stime,
                  minor_faults=usage.ru_minflt, peak_mb=usage.ru_maxrss / 1024)
    return result


def summarize(cells, steps_of, variants):
    header = ("allocator", "shape", "variant", "cpu us/step", "wall us/st", "vs floor", "vs lit.", "faults/step",
              "process s", "peak MB")
    row = "{:<16}{:<6}{:<9}{:>12}{:>12}{:>10}{:>10}{:>12}{:>10}{:>9}"
    median = statistics.median
    print(row.format(*header))
    for (allocator, shape), rounds in cells.items():
        steps = steps_of[shape]
        for variant in variants:
            cpu = median(r[variant]["loop_cpu_s"] / steps * 1e6 for r in rounds)
            wall = median(r[variant]["loop_s"] / steps * 1e6 for r in rounds)
            vs_floor = median(r[variant]["loop_cpu_s"] / r["floor"]["loop_cpu_s"] for r in rounds)
            vs_literal = median(r[variant]["loop_cpu_s"] / r["literal"]["loop_cpu_s"] for r in rounds)
            faults = median(r[variant]["minor_faults"] / steps for r in rounds)
            process = median(r[variant]["process_wall_s"] for r in rounds)
            peak = max(r[variant]["peak_mb"] for r in rounds)
            print(row.format(allocator, shape, variant, f"{cpu:.1f}", f"{wall:.1f}", f"{vs_floor:.3f}",
                             f"{vs_literal:.3f}", f"{faults:.1f}", f"{process:.2f}", f"{peak:.0f}"))
        digests = {variant: {r[variant]["digest"] for r in rounds} for variant in variants}
        same = digests["ours"] == digests["literal"] and len(digests["ours"]) == 1
        print(f"{allocator:<16}{shape:<6}final parameters and losses: ours == literal: {same}, "
              f"floor == literal: {digests['floor'] == digests['literal']} ({','.join(sorted(digests['ours']))})")
        if "base" in variants:
            vs_base = median(r["ours"]["loop_cpu_s"] / r["base"]["loop_cpu_s"] for r in rounds)
            print(f"{allocator:<16}{shape:<6}ours / base (per-round median): {vs_base:.3f}; "
                  f"base == ours: {digests['base'] == digests['ours']}")


def run_here(args):
    steps_of = {"q1": args.q1_steps, "q1s": args.q1_steps, "q2": args.q2_steps}
    shapes = [shape for shape in args.shapes.split(",") if shape]
    allocators = [name for name in args.allocators.split(",") if name]
    for name in allocators:
        if name == "jemalloc" and not os.path.exists(JEMALLOC):
            raise SystemExit(f"jemalloc is not installed here ({JEMALLOC})")
    with open("/proc/loadavg") as handle:
        load_before = handle.read().split()[:3]
    numpy_version = subprocess.run([sys.executable, "-c", "import numpy; print(numpy.__version__)"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    print("python {}, numpy {}, OPENBLAS_CORETYPE={}, NPY_DISABLE_CPU_FEATURES={}, 1 BLAS thread; {} rounds; "
          "q1 {} steps, q2 {} steps; load average before: {}".format(
              platform.python_version(), numpy_version, os.environ.get("OPENBLAS_CORETYPE", "(auto)"),
              os.environ.get("NPY_DISABLE_CPU_FEATURES", "(none)"), args.rounds,
                                           args.q1_steps, args.q2_steps, " ".join(load_before)), flush=True)
    variants = (*VARIANTS, "base") if args.baseline else VARIANTS
    if args.baseline:
        print(f"base: {args.baseline}")
    cells = {(allocator, shape): [] for allocator in allocators for shape in shapes}
    rng = random.Random(args.order_seed)
    for round_number in range(args.rounds):
        for key in cells:
            order = list(variants)
            rng.shuffle(order)
            allocator, shape = key
            cells[key].append({variant: measure(variant, shape, steps_of[shape], allocator, args.data_dir,
                                                args.baseline)
                               for variant in order})
        print(f"round {round_number + 1} done", file=sys.stderr, flush=True)
    with open("/proc/loadavg") as handle:
        print("load average after: {}".format(" ".join(handle.read().split()[:3])))
    summarize(cells, steps_of, variants)


def _without(argv, options):
    """The arguments less these options and their values: inside the container they name mounted paths."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(option + "=" for option in options)):
            kept.append(arg)
    return kept


def run_in_era_stack(args, argv):
    sys.path.insert(0, BENCH_DIR)
    import era_stack

    image = era_stack.ensure()
    data_dir = os.path.abspath(args.data_dir)
    inner = _without([arg for arg in argv if arg != "--era"], ("--data-dir", "--baseline"))
    sys.path.insert(0, REPO)
    from grader.numerics import PINNED_NUMERICS_ENV

    command = ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001"]
    for name, value in PINNED_NUMERICS_ENV.items():  # the kernels the sandbox pins
        command += ["-e", f"{name}={value}"]
    command += ["-v", REPO + ":/repo:ro", "-v", os.path.join(data_dir, "public") + ":/data/public:ro"]
    if args.baseline:
        command += ["-v", os.path.abspath(args.baseline) + ":/base:ro"]
        inner += ["--baseline", "/base"]
    command += [image, "python3", "-B", "/repo/bench/bench_nn_step.py", "--data-dir", "/data", *inner]
    sys.exit(subprocess.run(command).returncode)


def main():
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--era", action="store_true", help="run in the era stack's container")
    parser.add_argument("--shapes", default="q1,q1s,q2")
    parser.add_argument("--allocators", default="default,glibc-tuned,jemalloc")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--q1-steps", type=int, default=2000)
    parser.add_argument("--q2-steps", type=int, default=600)
    parser.add_argument("--order-seed", type=int, default=0)
    parser.add_argument("--baseline", default=None, help="another checkout whose nn runs as variant 'base'")
    parser.add_argument("--data-dir", default=os.environ.get("NNGRADE_DATA_DIR", os.path.join(REPO, "var", "data")))
    args = parser.parse_args()
    if args.era:
        run_in_era_stack(args, sys.argv[1:])
    else:
        run_here(args)


if __name__ == "__main__":
    main()
