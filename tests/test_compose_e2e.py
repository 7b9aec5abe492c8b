"""The whole stack through docker-compose: build, up, a course, the staff solution uploaded over HTTP as a
student and graded 12/12 in the gradebook export, the canary, and `down -v` whatever happens.

CI (NNGRADE_REQUIRE_DOCKER=1) fails instead of skipping when docker-compose or the engine is missing.
NNGRADE_E2E_CANARY_CASES picks the canary's cases (default: a quick subset; `all` for the whole battery).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.canary import CanaryOptions, load_cases, print_table, run_canary, select_cases
from cli.canary_portal import Portal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from deploy.stack import Stack, StackError, compose_binary  # noqa: E402

# Quick cases that still cover every kind of outcome the host decides: ok, bad_output, crashed, out_of_memory.
DEFAULT_CANARY_CASES = "staff,forge_result,exit_early,memory_bomb,read_host,find_labels"
GRADE_TIMEOUT_S = 300.0

pytestmark = [pytest.mark.slow, pytest.mark.compose, pytest.mark.docker, pytest.mark.timeout(1500)]


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("NNGRADE_REQUIRE_DOCKER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    _require(compose_binary() is not None, "docker-compose is not installed (bash scripts/setup.d/70-compose.sh)")
    stack = Stack(project=f"nngradee2e{os.getpid()}", host_dir=REPO / "var" / "compose-e2e",
                  extra_env={"NNGRADE_WORKER_CONCURRENCY": "2"})
    try:
        stack.build()
    except StackError as exc:
        _require(False, f"cannot build the stack's images: {exc}")
    started = time.monotonic()
    try:
        stack.up()
        stack.wait_web()
        stack.started_at = started  # type: ignore[attr-defined]
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()


def test_staff_solution_graded_over_http_and_canary_passes(stack: Stack) -> None:
    credentials = stack.seed_course()
    student = "s1001"
    portal = Portal(stack.url)
    portal.log_in(student, credentials[student], new_password="e2e-" + credentials[student])
    submission_id, status, body = portal.upload((REPO / "reference_solutions" / "staff" / "models.py").read_bytes())
    assert submission_id is not None, f"upload refused: HTTP {status}: {body[:300]}"

    deadline = time.monotonic() + GRADE_TIMEOUT_S
    while (state := portal.status(submission_id))["pending"]:
        assert time.monotonic() < deadline, f"still {state['status']} after {GRADE_TIMEOUT_S:.0f} s"
        time.sleep(1.0)
    up_to_graded_s = time.monotonic() - stack.started_at  # type: ignore[attr-defined]
    print(f"up -> first graded submission: {up_to_graded_s:.1f} s")
    assert (state["points"], state["max_points"]) == (12, 12), state

    rows = {row["student_id"]: row for row in stack.export()}
    assert (rows[student]["total"], rows[student]["max_total"]) == ("12", "12"), rows[student]

    cases = select_cases(load_cases(), os.environ.get("NNGRADE_E2E_CANARY_CASES", DEFAULT_CANARY_CASES))
    names = ",".join(c.name for c in cases)
    accounts = sorted(stack.import_canary_accounts(names).items())
    outcomes = run_canary(cases, accounts, CanaryOptions(url=stack.url, timeout_s=900.0, poll_s=2.0))
    print_table(outcomes, sys.stdout)
    assert all(o.ok for o in outcomes), [(o.case.name, o.got, o.error) for o in outcomes if not o.ok]
