"""Shared pieces for the gradebook and worker tests: real Redis, real PostgreSQL, worker subprocesses.

Holds no tests itself. Worker subprocesses import `make_test_runner` from here (PYTHONPATH=tests).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from grader.runs import RunOutcome, RunRequest

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The MNIST cache workers grade with (as tests/conftest.py finds it).
DATA_DIR = Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var" / "data"))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://nngrade:nngrade@127.0.0.1:5432/nngrade"


def services_required() -> bool:
    return os.environ.get("NNGRADE_REQUIRE_SERVICES", "") not in ("", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


# --- Redis -------------------------------------------------------------------------------------------------

@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/setup.d/10-apt.sh installs it)")
        # No persistence: a restart loses every message, the worst case the sweep must repair.
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, "redis-server to accept connections")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if services_required():
            pytest.fail("redis-server is required (NNGRADE_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


# --- PostgreSQL --------------------------------------------------------------------------------------------

def postgres_admin_url() -> str:
    return os.environ.get("NNGRADE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh database on the system cluster, dropped afterwards; skips (or fails in CI) without one."""
    admin = postgres_admin_url()
    if not postgres_reachable(admin):
        if services_required():
            pytest.fail(f"PostgreSQL is required (NNGRADE_REQUIRE_SERVICES=1) but {admin} is unreachable; "
                        "run scripts/setup.d/40-services.sh")
        pytest.skip(f"PostgreSQL not reachable at {admin} (run scripts/setup.d/40-services.sh)")
    name = f"nngrade_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# --- Runners the worker subprocesses use -------------------------------------------------------------------

class TestRunner:
    """The real local runner with test hooks, configured through the worker's environment:

    NNGRADE_TEST_RUNLOG: append "start <run question seed> <pid> <time>" lines, so a test knows what runs;
    NNGRADE_TEST_SLEEP_S: sleep before each attempt (a slow grade, to kill or to queue behind);
    NNGRADE_TEST_ENGINE_FLAG: report infrastructure_error until this file exists (an engine that is down);
    NNGRADE_TEST_BUG_FLAG: raise an unexpected exception until this file exists (a bug of ours).
    """

    __test__ = False
    name = "local"

    def __init__(self, data_dir: Path) -> None:
        from grader.local_runner import LocalRunner

        self.inner = LocalRunner(data_dir)
        self.runlog = os.environ.get("NNGRADE_TEST_RUNLOG")
        self.sleep_s = float(os.environ.get("NNGRADE_TEST_SLEEP_S", "0"))
        self.engine_flag = os.environ.get("NNGRADE_TEST_ENGINE_FLAG")
        self.bug_flag = os.environ.get("NNGRADE_TEST_BUG_FLAG")

    def run(self, request: RunRequest, on_progress: Any = None) -> RunOutcome:
        self._log("start", request)
        if self.engine_flag and not Path(self.engine_flag).exists():
            return RunOutcome(status="infrastructure_error", observation=None,
                              detail="The container engine is not reachable.", wall_s=0.0, cpu_s=0.0,
                              peak_memory_mb=0.0, log_excerpt="", runner="local")
        if self.bug_flag and not Path(self.bug_flag).exists():
            raise KeyError("simulated bug in the grader")
        if self.sleep_s:
            time.sleep(self.sleep_s)
        outcome = self.inner.run(request, on_progress)
        self._log("end", request)
        return outcome

    def _log(self, event: str, request: RunRequest) -> None:
        if self.runlog:
            with open(self.runlog, "a") as f:
                f.write(f"{event} {request.submission.name[:12]} {request.question} {request.seed} "
                        f"{os.getpid()} {time.time():.3f}\n")


def make_test_runner(data_dir: Path) -> TestRunner:
    return TestRunner(data_dir)


# --- Worker subprocesses -----------------------------------------------------------------------------------

@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children) as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_worker(
    tmp: Path, env: dict[str, str], *, name: str, concurrency: int = 1, options: dict[str, str] | None = None,
) -> WorkerProcess:
    args = [PYTHON, "-m", "worker", f"--concurrency={concurrency}", f"--hostname={name}@%h",
            "--loglevel=INFO"]
    for key, value in (options or {}).items():
        args.append(f"--{key.replace('_', '-')}={value}")
    log_path = tmp / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return WorkerProcess(process, log_path)


def wait_worker_ready(app: Any, worker: WorkerProcess, timeout_s: float = 30.0) -> None:
    def ready() -> bool:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{worker.log()}")
        return "ready." in worker.log()

    wait_for(ready, timeout_s, "the worker to start", interval_s=0.2)
