"""No legitimate submission is flagged: every q2 model of the reference corpus graded through the Docker sandbox.

The corpus is every file that reaches q2's evaluation: the staff solution, the compatibility and pattern files,
the timing inputs and the genuine models of reference_solutions/genuine (architectures, learning rates, both loss
nodes, 82% to 98%). One attempt each with seed 0 is enough: over ten copies per file, the worst gap measured was
1.2 points against a threshold of 3 (docs/INTEGRITY.md), so a second copy would only make the test slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.integrity import GAP_THRESHOLD
from grader.limits import Limits
from grader.questions import get_question
from grader.runs import RunRequest
from grader.scoring import score_attempt
from sandbox import DockerRunner, DockerSettings
from sandbox.engine import Engine
from sandbox.owner import owner_id

REFERENCE = Path(__file__).resolve().parent.parent / "reference_solutions"
FOLDERS = ("staff", "compat", "patterns", "timing", "genuine")
CORPUS = sorted(str(p.relative_to(REFERENCE)) for folder in FOLDERS for p in (REFERENCE / folder).glob("*.py")
                if "class DigitClassificationModel" in p.read_text(encoding="utf-8-sig"))
OWNER = owner_id("pytest-integrity-corpus")

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.mnist]


@pytest.fixture(scope="module")
def docker(docker_engine: Engine, data_dir: Path) -> Iterator[DockerRunner]:
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=OWNER), engine=docker_engine)
    runner.reap_orphans(OWNER)
    yield runner
    runner.reap_orphans(OWNER)


def test_the_corpus_is_the_one_measured() -> None:
    assert len(CORPUS) == 19 and "staff/models.py" in CORPUS
    assert {path.split("/")[0] for path in CORPUS} == set(FOLDERS)


@pytest.mark.parametrize("path", CORPUS)
def test_a_legitimate_submission_is_not_flagged(path: str, docker: DockerRunner, data_dir: Path) -> None:
    run = docker.run(RunRequest(REFERENCE / path, "q2", 0, Limits.for_cpu_s(600.0)))
    attempt = score_attempt(get_question("q2"), 0, run, data_dir)
    assert attempt.metric_value is not None, f"{attempt.outcome}: {attempt.detail}"
    check = attempt.integrity
    assert check is not None and check.copy_status == "ok", check
    assert check.gap is not None and check.gap < GAP_THRESHOLD and not check.flagged, check.reason
