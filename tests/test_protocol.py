"""The host-side parser of the harness's stream and the classification of runs (pure, fast)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from grader.protocol import HarnessStream, RunFacts, classify_run, validate_result

TOKEN = "ab" * 16


def line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def result(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "result", "token": TOKEN, "question": "q1", "seed": 0,
        "final": {"kind": "final", "status": "ok", "evaluation": {"predictions": []}},
        "sanity_passed": True, "trained": True, "epochs": 3, "validation_accuracy": [],
        "warnings": [], "terminated": None, "violation": None, "exit": {"code": 0, "signal": None},
        "log": {"excerpt": "", "bytes": 0}, "rusage": {"cpu_s": 1.0, "peak_memory_mb": 50.0}, "wall_s": 1.5,
    }
    message.update(overrides)
    return message


def stream_of(*messages: dict[str, Any], progress: list[Any] | None = None) -> HarnessStream:
    stream = HarnessStream(progress.append if progress is not None else None)
    stream.feed(line({"type": "hello", "token": TOKEN, "child_pgid": 1234}))
    for message in messages:
        stream.feed(line(message))
    stream.close()
    return stream


FACTS = RunFacts(runner="local", wall_s=1.5, exit_code=0)


def test_a_well_formed_stream_yields_its_result_and_progress() -> None:
    progress: list[Any] = []
    stream = stream_of(
        {"type": "progress", "token": TOKEN, "event": "epoch", "epoch": 2},
        {"type": "progress", "token": TOKEN, "event": "validation_accuracy", "value": 0.9},
        result(),
        progress=progress,
    )
    assert stream.violation is None and stream.result is not None
    assert stream.child_pgid == 1234
    assert progress == [{"event": "epoch", "epoch": 2}, {"event": "validation_accuracy", "value": 0.9}]
    outcome = classify_run(stream, FACTS)
    assert outcome.status == "ok" and outcome.cpu_s == 1.0 and outcome.peak_memory_mb == 50.0


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (line(result()), "did not start with the grader's greeting"),
        (line({"type": "hello", "token": "short"}), "did not start with the grader's greeting"),
        (b"not json\n", "not a result"),
        (line({"type": "hello", "token": TOKEN}) + line(result(token="cd" * 16)), "tampered"),
        (line({"type": "hello", "token": TOKEN}) + line(result()) + line(result()), "tampered"),
        (line({"type": "hello", "token": TOKEN}) + line({"type": "what", "token": TOKEN}), "unknown kind"),
        (line({"type": "hello", "token": TOKEN}) + b'{"type": "result"', "middle of a line"),
        (line({"type": "hello", "token": TOKEN}) + line(result(sanity_passed="yes")), "malformed"),
        (line({"type": "hello", "token": TOKEN})
         + line({"type": "progress", "token": TOKEN, "event": "epoch", "epoch": "1"}), "malformed progress"),
    ],
)
def test_forged_or_broken_streams_are_bad_output(raw: bytes, problem: str) -> None:
    stream = HarnessStream()
    stream.feed(raw)
    stream.close()
    assert stream.violation is not None and problem in stream.violation
    outcome = classify_run(stream, FACTS)
    assert outcome.status == "bad_output" and outcome.observation is None


def test_a_flood_of_results_is_cut_off() -> None:
    stream = HarnessStream(max_bytes=1000)
    stream.feed(line({"type": "hello", "token": TOKEN}))
    stream.feed(b"x" * 2000)
    assert stream.over_limit and stream.violation is not None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (result(final={"status": "ok"}), "an ok result needs an evaluation"),
        (result(final={"status": "error", "error": {"type": "X"}}), "type, message and traceback"),
        (result(final={"status": "failed_check"}), "a failed check needs a message"),
        (result(final={"status": "weird"}), "final status is unknown"),
        (result(terminated="bored"), "unknown termination"),
        (result(epochs=1.5), "epochs must be an integer"),
        (result(validation_accuracy=["a"]), "validation accuracies must be numbers"),
        (result(warnings=[3]), "warnings must be strings"),
        (result(warnings="line 3 imports `click`"), "field 'warnings' is missing or has the wrong type"),
        (result(log={"excerpt": 3, "bytes": 0}), "log must have"),
        (result(rusage={"cpu_s": "1"}), "resource usage must be numbers"),
        (result(stage="halfway"), "unknown stage"),
        (result(loss_node="MyLoss"), "unknown loss node"),
    ],
)
def test_result_validation_names_the_problem(message: dict[str, Any], expected: str) -> None:
    problem = validate_result(message)
    assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("overrides", "facts", "status"),
    [
        ({"terminated": "timeout", "final": None}, FACTS, "timeout"),
        ({"terminated": "output_limit", "final": None}, FACTS, "bad_output"),
        ({"terminated": "protocol_violation", "final": None}, FACTS, "bad_output"),
        ({"final": None, "exit": {"code": None, "signal": 11}}, FACTS, "crashed"),
        ({"final": None, "exit": {"code": 0, "signal": None}}, FACTS, "crashed"),
        ({}, RunFacts(runner="docker", wall_s=1, exit_code=137, oom_killed=True), "out_of_memory"),
        ({}, RunFacts(runner="docker", wall_s=1, exit_code=None, infrastructure_problem="engine down"),
         "infrastructure_error"),
    ],
)
def test_runs_are_classified_from_outside_facts(overrides: dict[str, Any], facts: RunFacts, status: str) -> None:
    assert classify_run(stream_of(result(**overrides)), facts).status == status


def test_no_result_at_all_is_a_crash_or_a_timeout() -> None:
    silent = stream_of()
    assert classify_run(silent, FACTS).status == "crashed"
    assert classify_run(silent, RunFacts(runner="local", wall_s=9, exit_code=-9, timed_out=True)).status == "timeout"


def test_segfault_detail_names_the_signal() -> None:
    outcome = classify_run(stream_of(result(final=None, exit={"code": None, "signal": 11})), FACTS)
    assert "SIGSEGV" in outcome.detail


def test_a_job_names_its_split_or_is_graded_on_the_test_images() -> None:
    from grader.harness import JobError, parse_job

    job = {"question": "q2", "seed": 0, "submission_dir": "/s", "data_dir": "/d", "scratch_dir": "/t",
           "wall_s": 1.0, "memory_mb": 64, "output_bytes": 1024}
    assert parse_job(json.dumps(job).encode())["split"] == "test"
    assert parse_job(json.dumps({**job, "split": "validation"}).encode())["split"] == "validation"
    with pytest.raises(JobError, match="split"):
        parse_job(json.dumps({**job, "split": "train"}).encode())
