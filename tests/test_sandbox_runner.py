"""The Docker runner: limits, container settings, lifecycle, host-side kills, OOM, orphans, errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.limits import Limits
from grader.local_runner import LocalRunner
from grader.numerics import AVX512_GROUPS
from grader.protocol import HarnessStream
from grader.questions import get_question
from grader.runs import RunRequest
from grader.scoring import score_attempt
from grader.wire import PROTOCOL_VERSION, stamp
from sandbox import DockerRunner, DockerSettings, SandboxLimits, reap_orphans, run_submission
from sandbox.attempt import Attempt
from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL, ContainerSpec, Engine, EngineError
from sandbox.image import expected_tag, inputs_hash
from sandbox.output import STDERR, STDOUT, OutputFrames
from sandbox.owner import owner_id

REPO = Path(__file__).resolve().parent.parent
STAFF = REPO / "reference_solutions" / "staff" / "models.py"
NO_TRAINING = REPO / "reference_solutions" / "broken" / "no_training.py"
OWNER = owner_id("pytest-runner")  # unique: other test runs share the engine


# -- pure -----------------------------------------------------------------------------------------


def test_limits_map_to_container_settings() -> None:
    limits = SandboxLimits(memory_mb=512, cpus=1.5, wall_s=30.0, kill_grace_s=4.0)
    assert limits.memory_bytes == 512 * 1024 * 1024
    assert limits.nano_cpus == 1_500_000_000
    assert limits.blas_threads == 1
    assert limits.kill_after_s == 34.0
    assert SandboxLimits(cpus=0.5).blas_threads == 1
    assert SandboxLimits(cpus=2.0).blas_threads == 2


def test_plain_limits_widen_to_sandbox_limits() -> None:
    plain = Limits(wall_s=12.0, memory_mb=300, pids=64)
    wide = SandboxLimits.from_limits(plain)
    assert (wide.wall_s, wide.memory_mb, wide.pids, wide.scratch_mb) == (12.0, 300, 64, plain.scratch_mb)
    assert SandboxLimits.from_limits(wide) is wide


@pytest.mark.parametrize(
    "bad", [{"wall_s": 0.0}, {"wall_s": float("inf")}, {"memory_mb": 4}, {"cpus": 0.0}, {"pids": 2}],
)
def test_nonsense_limits_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxLimits(**bad)


def frame(kind: int, payload: bytes) -> bytes:
    """One frame of Docker's attach stream, as the engine writes it: stream id, 3 zero bytes, length, payload."""
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def read_all(frames: OutputFrames) -> dict[int, bytes]:
    got: dict[int, bytes] = {STDOUT: b"", STDERR: b""}
    while not frames.ended:
        item = frames.get(5.0)
        if item is not None:
            got[item[0]] += item[1]
    return got


def test_output_frames_are_split_by_stream_across_chunk_boundaries() -> None:
    data = frame(STDOUT, b"hello\n") + frame(STDERR, b"oops") + frame(STDOUT, b"") + frame(STDOUT, b"x" * 70000)
    ours, engine = socket.socketpair()
    frames = OutputFrames(ours)

    def write() -> None:
        for i in range(0, len(data), 7):
            engine.sendall(data[i : i + 7])
        engine.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_all(frames) == {STDOUT: b"hello\n" + b"x" * 70000, STDERR: b"oops"}
        assert frames.error is None and frames.get(0.0) is None
    finally:
        writer.join()
        frames.close()
        ours.close()


def test_output_frames_wait_no_longer_than_asked_and_end_on_hang_up() -> None:
    """A silent container must not hold the runner past its deadline: `get` returns, a hang-up ends the reader."""
    ours, engine = socket.socketpair()
    frames = OutputFrames(ours)
    try:
        assert frames.get(0.05) is None and not frames.ended
        engine.sendall(frame(STDOUT, b"half a li"))
        assert frames.get(5.0) == (STDOUT, b"half a li")
        engine.sendall(frame(STDERR, b"cut")[:6])  # a header cut short, then silence
        assert frames.get(0.05) is None and not frames.ended
        ours.shutdown(socket.SHUT_RDWR)  # Attachment.hang_up
        assert read_all(frames) == {STDOUT: b"", STDERR: b""}
        frames.close()
        assert not frames._thread.is_alive()
    finally:
        engine.close()
        ours.close()


def test_a_runner_that_stops_reading_does_not_leave_the_reader_behind() -> None:
    """The queue is bounded: after `close`, a reader blocked on a full queue gives up instead of waiting forever."""
    ours, engine = socket.socketpair()
    frames = OutputFrames(ours)
    try:
        for _ in range(64):
            engine.sendall(frame(STDERR, b"e" * 1000))
        ours.shutdown(socket.SHUT_RDWR)
        frames.close()
        assert not frames._thread.is_alive()
    finally:
        engine.close()
        ours.close()


def test_image_tag_follows_the_grader_sources(tmp_path: Path) -> None:
    grader_copy = tmp_path / "grader"
    shutil.copytree(REPO / "grader", grader_copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = inputs_hash(grader_dir=grader_copy)
    assert before == inputs_hash(grader_dir=grader_copy)
    (grader_copy / "__pycache__").mkdir(exist_ok=True)
    (grader_copy / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    assert inputs_hash(grader_dir=grader_copy) == before
    (grader_copy / "limits.py").write_text((grader_copy / "limits.py").read_text() + "\n# changed\n")
    assert inputs_hash(grader_dir=grader_copy) != before
    assert inputs_hash(base_image="python:3.11-slim", grader_dir=grader_copy) != inputs_hash(grader_dir=grader_copy)
    assert expected_tag().startswith("nngrade-sandbox:")


def test_image_tag_follows_the_stack_lock(tmp_path: Path) -> None:
    stack_copy = tmp_path / "stack"
    shutil.copytree(REPO / "sandbox" / "image" / "stack", stack_copy)
    before = inputs_hash(stack_dir=stack_copy)
    assert before == inputs_hash()
    (stack_copy / "uv.lock").write_text((stack_copy / "uv.lock").read_text() + "\n")
    assert inputs_hash(stack_dir=stack_copy) != before


def test_unreachable_engine_is_an_infrastructure_error(tmp_path: Path) -> None:
    (tmp_path / "public").mkdir()
    url = f"unix://{tmp_path}/no-docker.sock"
    runner = DockerRunner(DockerSettings(data_dir=tmp_path, base_url=url))
    run = runner.run(RunRequest(NO_TRAINING, "q1", 0, Limits(wall_s=5.0)))
    assert run.status == "infrastructure_error"
    assert f"Docker engine not reachable at {url}" in run.detail
    assert "scripts/setup.d/50-docker.sh" in run.detail
    with pytest.raises(EngineError, match="not reachable"):
        Engine.connect(url)


# -- against the real engine ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner(docker_engine: Engine, data_dir: Path) -> Iterator[DockerRunner]:
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=OWNER), engine=docker_engine)
    yield runner
    assert runner.reap_orphans(OWNER) == 0, "a test left a sandbox container behind"


def leftovers(runner: DockerRunner) -> list[str]:
    return runner.engine().containers({SANDBOX_LABEL: "1", OWNER_LABEL: OWNER})


def trivial(runner: DockerRunner, tmp_path: Path, limits: SandboxLimits, script: str) -> ContainerSpec:
    """The runner's real container settings, running a one-line Python program instead of the harness."""
    tmp_path.chmod(0o755)
    spec = runner._spec(limits, tmp_path)
    return dataclasses.replace(spec, command=["python3", "-I", "-c", script])


def attempt(runner: DockerRunner, spec: ContainerSpec, limits: SandboxLimits) -> Any:
    stream = HarnessStream()
    outcome = Attempt(runner.engine(), spec, limits, stream, runner.image_digest()).run(b"{}")
    return outcome


@pytest.mark.docker
def test_container_settings_are_locked_down(runner: DockerRunner, tmp_path: Path, data_dir: Path) -> None:
    limits = SandboxLimits(memory_mb=300, cpus=0.5, pids=77, scratch_mb=16)
    engine = runner.engine()
    spec = trivial(runner, tmp_path, limits, "pass")
    container_id = engine.create(spec)
    try:
        info = engine._api.inspect_container(container_id)
    finally:
        engine.remove(container_id)
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["Memory"] == host["MemorySwap"] == 300 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 77
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["LogConfig"]["Type"] == "none"
    assert host["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=16m,mode=1777"}
    assert sorted(host["Binds"]) == sorted([
        f"{tmp_path}:/submission:ro", f"{(data_dir / 'public').resolve()}:/data:ro",
    ])
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Labels"][SANDBOX_LABEL] == "1" and config["Labels"][OWNER_LABEL] == OWNER
    env = dict(item.split("=", 1) for item in config["Env"])
    assert set(env) <= {"PATH", "HOME", "LANG", "TMPDIR", "MPLBACKEND", "OPENBLAS_NUM_THREADS",
                        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OPENBLAS_CORETYPE",
                        "NPY_DISABLE_CPU_FEATURES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}
    # The runner pins the kernels that decide the last bits (grader/numerics.py).
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["NPY_DISABLE_CPU_FEATURES"].split() == list(AVX512_GROUPS)
    # The allocator settings BENCHMARKS.md chose: large numpy temporaries come from the heap.
    assert env["MALLOC_MMAP_THRESHOLD_"] == "4194304" and env["MALLOC_TRIM_THRESHOLD_"] == "134217728"
    assert not any("private" in bind for bind in host["Binds"])


@pytest.mark.docker
def test_normal_submission_runs_and_leaves_nothing(runner: DockerRunner, data_dir: Path) -> None:
    run = run_submission(
        NO_TRAINING, SandboxLimits(wall_s=30.0, memory_mb=512), question="q1", seed=0,
        settings=DockerSettings(data_dir=data_dir, owner=OWNER),
    )
    assert run.status == "ok", run.detail
    assert run.runner == "docker" and run.image_digest == runner.image_digest()
    assert run.observation is not None and run.observation["sanity_passed"] is True
    assert leftovers(runner) == []


@pytest.mark.docker
def test_host_kills_at_the_wall_clock(runner: DockerRunner, tmp_path: Path) -> None:
    limits = SandboxLimits(wall_s=1.0, kill_grace_s=1.0)
    run = attempt(runner, trivial(runner, tmp_path, limits, "import time; time.sleep(600)"), limits)
    assert run.status == "timeout", run.detail
    assert 2.0 <= run.wall_s < 8.0
    assert leftovers(runner) == []


TOKEN = "ef" * 16
HELLO = stamp("hello", {"token": TOKEN, "child_pgid": 7, "python": "3.9", "numpy": "1.22.4"})


@pytest.mark.docker
@pytest.mark.parametrize(
    ("lines", "status", "detail"),
    [
        ([{**HELLO, "version": PROTOCOL_VERSION + 1}], "infrastructure_error", "does not match this host"),
        ([HELLO, stamp("progress", {"token": TOKEN, "event": "epoch", "epoch": 1, "version": 0})],
         "infrastructure_error", "protocol version 0"),
        ([{**HELLO, "token": 32}], "infrastructure_error", "did not start with the grader's greeting"),
        ([HELLO, stamp("result", {"token": "00" * 16})], "bad_output", "tampered"),
        ([HELLO, stamp("progress", {"token": TOKEN, "event": "epoch", "epoch": "1"})], "bad_output",
         "malformed progress"),
        ([HELLO, stamp("result", {"token": TOKEN, "final": {"status": "ok"}})], "bad_output", "malformed result"),
    ],
)
def test_the_host_refuses_forged_malformed_and_mis_versioned_messages_from_a_container(
    runner: DockerRunner, tmp_path: Path, lines: list[dict[str, Any]], status: str, detail: str
) -> None:
    """Through the real engine and the SDK's frame reader; the host stops the container at the first bad line."""
    limits = SandboxLimits(wall_s=60.0)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    script = f"import sys, time; sys.stdout.write({text!r}); sys.stdout.flush(); time.sleep(600)"
    run = attempt(runner, trivial(runner, tmp_path, limits, script), limits)
    assert run.status == status and detail in run.detail, run.detail
    assert run.observation is None and run.wall_s < limits.wall_s  # stopped by the host, not by the clock
    assert leftovers(runner) == []


@pytest.mark.docker
def test_output_flood_is_cut_off(runner: DockerRunner, tmp_path: Path) -> None:
    limits = SandboxLimits(wall_s=60.0)
    hello = json.dumps(HELLO) + "\n"
    script = f"import os\nos.write(1, {hello.encode()!r})\nwhile True: os.write(1, b'x' * 65536)"
    run = attempt(runner, trivial(runner, tmp_path, limits, script), limits)
    assert run.status == "bad_output", run.detail
    assert run.wall_s < 10.0
    assert leftovers(runner) == []


@pytest.mark.docker
def test_oom_of_a_child_process_is_reported(runner: DockerRunner, tmp_path: Path) -> None:
    """On cgroup v1 the engine sets OOMKilled even when only a child was killed and PID 1 exits 0.

    The flag comes from an asynchronous cgroup event; the pause keeps a loaded machine from reporting the
    exit first (real attempts do not depend on it: the harness reports the child's SIGKILL itself).
    """
    limits = SandboxLimits(memory_mb=64)
    script = (
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', 'x = b\"x\" * (512 << 20)'])\n"
        "time.sleep(0.5)\n"
    )
    run = attempt(runner, trivial(runner, tmp_path, limits, script), limits)
    assert run.status == "out_of_memory", f"{run.status}: {run.detail}"
    assert run.exit_code == 0
    assert leftovers(runner) == []


@pytest.mark.docker
def test_missing_image_is_an_infrastructure_error(docker_engine: Engine, data_dir: Path) -> None:
    runner = DockerRunner(
        DockerSettings(data_dir=data_dir, image="nngrade-sandbox:does-not-exist"), engine=docker_engine
    )
    run = runner.run(RunRequest(NO_TRAINING, "q1", 0, Limits(wall_s=5.0)))
    assert run.status == "infrastructure_error"
    assert "python -m sandbox.image build" in run.detail


@pytest.mark.docker
def test_reap_orphans_removes_only_the_owners_containers(runner: DockerRunner, tmp_path: Path) -> None:
    engine = runner.engine()
    spec = trivial(runner, tmp_path, SandboxLimits(), "pass")
    mine = engine.create(spec)
    theirs = engine.create(dataclasses.replace(spec, labels={SANDBOX_LABEL: "1", OWNER_LABEL: "someone-else"}))
    try:
        assert reap_orphans(engine, OWNER) == 1
        assert engine.containers({SANDBOX_LABEL: "1", OWNER_LABEL: "someone-else"}) == [theirs]
        assert mine not in engine.containers({SANDBOX_LABEL: "1"})
    finally:
        engine.remove(theirs)
        engine.remove(mine)


# The staff solution's numbers on the sandbox's era stack (CPython 3.9, NumPy 1.22.4, pinned kernels).
STAFF_Q1_SEED0_LOSS = 0.009372547237582265
STAFF_Q1_SEED0_EPOCHS = 5000
STAFF_Q2_SEED0_ACCURACY = 0.9766


@pytest.mark.docker
@pytest.mark.slow
def test_staff_q1_in_docker_is_the_era_stacks_and_local_differs_only_in_the_last_bits(
    runner: DockerRunner, local_runner: LocalRunner, data_dir: Path
) -> None:
    request = RunRequest(STAFF, "q1", 0, Limits(wall_s=120.0))
    progress: list[dict[str, Any]] = []
    in_docker = runner.run(request, lambda event: progress.append(dict(event)))
    local = local_runner.run(request)
    assert in_docker.status == local.status == "ok", in_docker.detail
    assert in_docker.observation is not None and local.observation is not None
    assert in_docker.versions is not None and in_docker.versions[1] == "1.22.4"
    docker_attempt = score_attempt(get_question("q1"), 0, in_docker, data_dir)
    assert docker_attempt.metric_value == STAFF_Q1_SEED0_LOSS
    assert in_docker.observation["final"]["evaluation"]["reported_loss"] == STAFF_Q1_SEED0_LOSS
    assert in_docker.observation["epochs"] == STAFF_Q1_SEED0_EPOCHS
    # The local runner is the host's NumPy: the same model to about 1e-15, not to the bit.
    local_attempt = score_attempt(get_question("q1"), 0, local, data_dir)
    assert local_attempt.outcome == docker_attempt.outcome == "passed"
    assert local_attempt.metric_value == pytest.approx(STAFF_Q1_SEED0_LOSS, rel=1e-12, abs=0)
    assert any(event.get("event") == "epoch" for event in progress)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.mnist
def test_staff_q2_in_docker_is_pinned(runner: DockerRunner, data_dir: Path) -> None:
    run = runner.run(RunRequest(STAFF, "q2", 0, Limits(wall_s=600.0)))
    attempt = score_attempt(get_question("q2"), 0, run, data_dir)
    assert (attempt.outcome, attempt.metric_value) == ("passed", STAFF_Q2_SEED0_ACCURACY), attempt.detail
