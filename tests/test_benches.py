"""The performance benches end to end on small inputs: bench_nn_step (with a baseline checkout), the smaps
reading of bench_mnist_sharing, and bench_sandbox's phase breakdown."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def bench_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nn_step_bench_compares_a_baseline_checkout_in_the_same_rounds() -> None:
    """This checkout as its own baseline: four variants a round, and the baseline's bits equal ours."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_nn_step.py"), "--shapes", "q1s", "--q1-steps", "20",
         "--rounds", "2", "--allocators", "default", "--baseline", str(REPO)],
        capture_output=True, text=True, timeout=600, cwd=REPO, check=True,
    )
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("default")]
    assert [row[2] for row in rows[:4]] == ["floor", "ours", "literal", "base"]
    assert "ours == literal: True, floor == literal: True" in done.stdout
    assert "base == ours: True" in done.stdout and "ours / base (per-round median)" in done.stdout


def test_nn_step_bench_leaves_mounted_paths_to_the_container() -> None:
    without = bench_module("bench_nn_step")._without
    argv = ["--rounds", "2", "--data-dir", "/work/data", "--baseline=/old", "--shapes", "q1", "--data-dir=/x"]
    assert without(argv, ("--data-dir", "--baseline")) == ["--rounds", "2", "--shapes", "q1"]


def test_sharing_bench_reads_an_image_mapping_from_smaps(tmp_path: Path) -> None:
    """The parser on the kernel's real smaps: a memory-mapped train_images.npy of this process, read once."""
    sharing = bench_module("bench_mnist_sharing")
    path = tmp_path / "train_images.npy"
    np.save(path, np.arange(64 * 1024, dtype=np.float64).reshape(256, 256))
    images = np.load(path, mmap_mode="c")
    assert float(images.sum()) > 0  # every page read
    fields = sharing.image_mappings(os.getpid())["train_images.npy"]
    assert fields["Rss"] >= 512 * 1024 - 4096
    assert fields["Rss"] == sum(fields[k] for k in ("Shared_Clean", "Shared_Dirty", "Private_Clean",
                                                    "Private_Dirty"))
    assert fields["Anonymous"] == 0  # read, never written: nothing copied
    assert sharing.processes_mapping(path.stat().st_ino) >= 1
    images[0, 0] = -1.0  # copy-on-write: one page becomes this process's own
    assert sharing.image_mappings(os.getpid())["train_images.npy"]["Anonymous"] == 4096
    del images


@pytest.mark.docker
@pytest.mark.slow
def test_sandbox_bench_times_each_phase_of_an_attempt(docker_engine: object, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_sandbox.py"), "--runs", "2", "--breakdown",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=600, cwd=REPO, check=True,
    )
    for phase in ("create", "attach", "start", "start -> greeting", "greeting -> result",
                  "result -> exit (wait)", "remove"):
        assert f"  {phase} " in done.stdout, phase


@pytest.mark.docker
@pytest.mark.mnist
@pytest.mark.slow
def test_integrity_bench_measures_the_copy_through_the_sandbox(docker_engine: object, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_integrity.py"), "--sandbox", "1", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=900, cwd=REPO, check=True,
    )
    for label in ("untrained linear model", "staff solution"):
        # With the copy, the copy's own CPU seconds were measured in the sandbox; without it there is none.
        assert re.search(rf"\| {label} \| with \| [\d.]+ \| [\d.]+ \| \d+ \| \d+\.\d{{3}} \|", done.stdout), done.stdout
        assert re.search(rf"\| {label} \| without \| [\d.]+ \| [\d.]+ \| \d+ \| - \|", done.stdout), done.stdout
