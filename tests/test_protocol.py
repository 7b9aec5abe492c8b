"""The host-side parser of the harness's stream and the classification of runs (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from grader import wire
from grader.protocol import HarnessStream, RunFacts, build_job, classify_run
from grader.runs import RunRequest
from grader.wire import PROTOCOL_VERSION, VersionMismatch, WireError, stamp

TOKEN = "ab" * 16


def line(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def result(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "result", "version": PROTOCOL_VERSION, "token": TOKEN, "question": "q1", "seed": 0,
        "final": {"kind": "final", "status": "ok", "evaluation": {"predictions": []}},
        "sanity_passed": True, "trained": True, "epochs": 3, "validation_accuracy": [],
        "warnings": [], "terminated": None, "violation": None, "exit": {"code": 0, "signal": None},
        "log": {"excerpt": "", "bytes": 0}, "rusage": {"cpu_s": 1.0, "peak_memory_mb": 50.0}, "wall_s": 1.5,
    }
    message.update(overrides)
    return message


def stream_of(*messages: dict[str, Any], progress: list[Any] | None = None) -> HarnessStream:
    stream = HarnessStream(progress.append if progress is not None else None)
    stream.feed(line(HELLO))
    for message in messages:
        stream.feed(line(message))
    stream.close()
    return stream


FACTS = RunFacts(runner="local", wall_s=1.5, exit_code=0)
HELLO = stamp("hello", {"token": TOKEN, "child_pgid": 1234, "python": "3.9.18", "numpy": "1.22.4"})


def progress_message(**fields: Any) -> dict[str, Any]:
    return stamp("progress", {"token": TOKEN, **fields})


def test_a_well_formed_stream_yields_its_result_and_progress() -> None:
    progress: list[Any] = []
    stream = stream_of(
        progress_message(event="epoch", epoch=2),
        progress_message(event="validation_accuracy", value=0.9),
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
        (line(HELLO) + b"not json\n", "not a result"),
        (line(HELLO) + b"[1, 2]\n", "not a result"),
        (line(HELLO) + line(result(token="cd" * 16)), "tampered"),
        (line(HELLO) + line(result()) + line(result()), "tampered"),
        (line(HELLO) + line({"type": "what", "token": TOKEN}), "unknown kind"),
        (line(HELLO) + b'{"type": "result"', "middle of a line"),
        (line(HELLO) + line(result(sanity_passed="yes")), "malformed"),
        (line(HELLO)
         + line(progress_message(event="epoch", epoch="1")), "malformed progress"),
    ],
)
def test_forged_or_broken_streams_are_bad_output(raw: bytes, problem: str) -> None:
    stream = HarnessStream()
    stream.feed(raw)
    stream.close()
    assert stream.violation is not None and problem in stream.violation
    outcome = classify_run(stream, FACTS)
    assert outcome.status == "bad_output" and outcome.observation is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (line(result()), "did not start with the grader's greeting"),
        (line({**HELLO, "token": "short"}), "did not start with the grader's greeting"),
        (b"not json\n", "not a result"),
        (b'{"type": "hello"', "middle of a line"),
        (b"x" * 2000, "more than 1000 bytes"),
    ],
)
def test_a_stream_broken_before_the_greeting_is_ours(raw: bytes, problem: str) -> None:
    """Before the greeting no student code has run (it waits for the harness's go-ahead): never bad output."""
    stream = HarnessStream(max_bytes=1000)
    stream.feed(raw)
    stream.close()
    assert stream.violation is None and stream.infrastructure_problem is not None
    assert problem in stream.infrastructure_problem and "before the student's code ran" in stream.infrastructure_problem
    outcome = classify_run(stream, FACTS)
    assert outcome.status == "infrastructure_error" and outcome.observation is None


def test_a_flood_of_results_is_cut_off() -> None:
    stream = HarnessStream(max_bytes=1000)
    stream.feed(line(HELLO))
    stream.feed(b"x" * 2000)
    assert stream.over_limit and stream.violation is not None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (result(final={"status": "ok"}), "field 'final.evaluation' is missing"),
        (result(final={"status": "error", "error": {"type": "X"}}), "field 'final.error.message' is missing"),
        (result(final={"status": "error", "error": "boom"}), "field 'final.error' must be an object"),
        (result(final={"status": "failed_check"}), "field 'final.message' is missing"),
        (result(final={"status": "weird"}), "field 'final.status' must be one of 'ok', 'error', 'failed_check'"),
        (result(final={"status": ["ok"]}), "field 'final.status' must be one of"),
        (result(final=[]), "field 'final' must be an object or null"),
        (result(terminated="bored"), "field 'terminated' must be one of null, 'timeout'"),
        (result(epochs=1.5), "field 'epochs' must be an integer or null"),
        (result(epochs=True), "field 'epochs' must be an integer or null"),
        (result(validation_accuracy=["a"]), "field 'validation_accuracy[0]' must be a number"),
        (result(warnings=[3]), "field 'warnings[0]' must be a string"),
        (result(warnings="line 3 imports `click`"), "field 'warnings' must be a list"),
        (result(log={"excerpt": 3, "bytes": 0}), "field 'log.excerpt' must be a string"),
        (result(log={"excerpt": ""}), "field 'log.bytes' is missing"),
        (result(rusage={"cpu_s": "1", "peak_memory_mb": 1}), "field 'rusage.cpu_s' must be a number"),
        (result(stage="halfway"), "field 'stage' must be one of"),
        (result(loss_node="MyLoss"), "field 'loss_node' must be one of"),
        (result(harness_fault={"stage": "setup"}), "field 'harness_fault.message' is missing"),
        (result(sanity_passed=1), "field 'sanity_passed' must be true or false"),
        (result(seed=None), "field 'seed' must be an integer"),
        (result(admin=True), "field 'admin' is not part of the protocol"),
        ({k: v for k, v in result().items() if k != "rusage"}, "field 'rusage' is missing"),
        (result(type="hello"), "expected a result message"),
    ],
)
def test_result_validation_names_the_problem(message: dict[str, Any], expected: str) -> None:
    with pytest.raises(WireError) as refused:
        wire.validate("result", message)
    assert expected in str(refused.value) and not isinstance(refused.value, VersionMismatch)


def test_every_message_the_protocol_declares_has_a_valid_example() -> None:
    job = json.loads(build_job(RunRequest(Path("models.py"), "q2", 7), submission_dir="/s", data_dir="/d",
                               scratch_dir="/t", cpu_clock="cgroup", data_files={"a.npy": 3},
                               copy_file="/c/copy.npy"))
    examples = {"job": job, "hello": HELLO, "progress": progress_message(event="epoch", epoch=1),
                "result": result()}
    assert set(examples) == set(wire.MESSAGES)
    for kind, example in examples.items():
        assert wire.validate(kind, example) is example
        with pytest.raises(VersionMismatch, match=f"{kind} message speaks protocol version {PROTOCOL_VERSION + 1}"):
            wire.validate(kind, {**example, "version": PROTOCOL_VERSION + 1})
        with pytest.raises(VersionMismatch, match="version null"):
            wire.validate(kind, {k: v for k, v in example.items() if k != "version"})
        with pytest.raises(VersionMismatch):  # JSON's true is not the number 1
            wire.validate(kind, {**example, "version": True})
        with pytest.raises(WireError, match="must be a JSON object"):
            wire.validate(kind, [example])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({**HELLO, "token": 7}, "field 'token' must be a string"),
        ({**HELLO, "child_pgid": 0}, "field 'child_pgid' must be at least 2"),
        ({**HELLO, "child_pgid": "1234"}, "field 'child_pgid' must be an integer"),
        ({k: v for k, v in HELLO.items() if k != "token"}, "field 'token' is missing"),
        (progress_message(event="epoch"), "field 'epoch' is missing"),
        (progress_message(event="validation_accuracy", value="0.9"), "field 'value' must be a number"),
        (progress_message(event="loss", value=0.1), "field 'event' must be one of 'epoch', 'validation_accuracy'"),
        (progress_message(event="epoch", epoch=1, extra=1), "field 'extra' is not part of the protocol"),
    ],
)
def test_greetings_and_progress_are_validated_field_by_field(message: dict[str, Any], expected: str) -> None:
    with pytest.raises(WireError, match=expected):
        wire.validate(str(message["type"]), message)


@pytest.mark.parametrize(
    "lines",
    [
        [{**HELLO, "version": PROTOCOL_VERSION + 1}],
        [{k: v for k, v in HELLO.items() if k != "version"}],
        [HELLO, {**progress_message(event="epoch", epoch=1), "version": 0}],
        [HELLO, {**result(), "version": "1"}],
    ],
)
def test_a_harness_of_another_protocol_version_is_an_infrastructure_error(lines: list[dict[str, Any]]) -> None:
    progress: list[Any] = []
    stream = HarnessStream(progress.append)
    for message in lines:
        stream.feed(line(message))
    stream.feed(line(result()))  # ignored: nothing after a mismatch counts
    stream.close()
    assert stream.violation is None and stream.result is None and stream.broken and progress == []
    outcome = classify_run(stream, FACTS)
    assert outcome.status == "infrastructure_error" and outcome.observation is None
    assert "does not match this host" in outcome.detail and "protocol version" in outcome.detail


def test_a_forged_message_of_another_version_is_still_tampering() -> None:
    """Only the harness knows the token: a line without it is the student's, whatever version it claims."""
    forged = {**result(), "token": "cd" * 16, "version": PROTOCOL_VERSION + 1}
    stream = stream_of(forged)
    assert stream.infrastructure_problem is None and stream.violation is not None
    assert classify_run(stream, FACTS).status == "bad_output"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"seed": None}, "field 'seed' must be an integer"),
        ({"type": "result"}, "expected a job message, got type 'result'"),
        ({"version": PROTOCOL_VERSION + 1}, "protocol version"),
        ({"wall_s": "10"}, "field 'wall_s' must be a number"),
        ({"memory_mb": True}, "field 'memory_mb' must be an integer"),
        ({"cpu_s": 0}, "field 'cpu_s' must be more than 0"),
        ({"cpu_clock": "wall"}, "field 'cpu_clock' must be one of 'cgroup', 'process'"),
        ({"data_files": {"a.npy": "3"}}, "field 'data_files.a.npy' must be an integer"),
        ({"data_files": [1]}, "field 'data_files' must be an object or null"),
        ({"student_code": "print(1)"}, "field 'student_code' is not part of the protocol"),
    ],
)
def test_the_harness_refuses_a_malformed_or_mis_versioned_job(message: dict[str, Any], expected: str) -> None:
    from grader.harness import JobError, parse_job

    job = {**json.loads(build_job(RunRequest(Path("m.py"), "q1", 0), submission_dir="/s", data_dir="/d",
                                  scratch_dir="/t", cpu_clock="process")), **message}
    with pytest.raises(JobError, match=expected):
        parse_job(json.dumps(job).encode())


@pytest.mark.parametrize(("raw", "expected"), [(b"[1]", "must be a JSON object"), (b"{", "Expecting"),
                                               (b" " * (64 * 1024 + 1), "too large")])
def test_the_harness_refuses_what_is_not_a_job(raw: bytes, expected: str) -> None:
    from grader.harness import JobError, parse_job

    with pytest.raises(JobError, match=expected):
        parse_job(raw)


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

    job = {"type": "job", "version": PROTOCOL_VERSION, "question": "q2", "seed": 0, "submission_dir": "/s",
           "data_dir": "/d", "scratch_dir": "/t",
           "wall_s": 1.0, "memory_mb": 64, "output_bytes": 1024}
    assert parse_job(json.dumps(job).encode())["split"] == "test"
    assert parse_job(json.dumps({**job, "split": "validation"}).encode())["split"] == "validation"
    with pytest.raises(JobError, match="split"):
        parse_job(json.dumps({**job, "split": "train"}).encode())
