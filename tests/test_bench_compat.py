"""bench/bench_compat.py end to end on two quick files (local runner, so it runs without an engine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.mnist
def test_the_bench_prints_each_verdict_with_seeds_times_and_the_distribution(data_dir: Path, tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_compat.py"), "--runner", "local", "--questions", "q1",
         "--data-dir", str(data_dir), "--json", str(rows_file),
         str(REPO / "reference_solutions" / "patterns" / "tamper_targets.py"),
         str(REPO / "reference_solutions" / "broken" / "no_training.py")],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=True,
    )
    assert "tamper_targets.py  q1        2/6     failed_check" in done.stdout
    assert "no_training.py     q1        2/6     below_threshold" in done.stdout
    assert "  q1 wall: n=3 " in done.stdout and "  q1 CPU: " in done.stdout and "2 files" in done.stdout
    rows = json.loads(rows_file.read_text())
    assert [(r["file"], [a[0] for a in r["attempts"]]) for r in rows] == [
        ("tamper_targets.py", [0]), ("no_training.py", [0, 1])]
