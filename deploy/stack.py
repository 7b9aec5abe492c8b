"""Drive the compose stack from Python: build, up, seed a course, upload as a student, export, down.

Used by tests/test_compose_e2e.py and bench/bench_compose_up.py. Everything listens on loopback only: the
portal is published on 127.0.0.1:<a free port>, Redis and PostgreSQL are not published at all.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
ASSIGNMENT = "nn-project"


class StackError(RuntimeError):
    """A compose step failed; the message carries the command's output tail."""


def compose_binary() -> str | None:
    return shutil.which("docker-compose")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Stack:
    project: str
    host_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Compose refuses to start without them; fresh ones per stack.
    postgres_password: str = field(default_factory=lambda: secrets.token_hex(16))
    redis_password: str = field(default_factory=lambda: secrets.token_hex(16))
    compose_files: tuple[Path, ...] = (COMPOSE_FILE,)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "COMPOSE_PROJECT_NAME": self.project,
            "NNGRADE_HOST_DIR": str(self.host_dir),
            "NNGRADE_BIND": "127.0.0.1",
            "NNGRADE_PORT": str(self.port),
            "POSTGRES_PASSWORD": self.postgres_password,
            "REDIS_PASSWORD": self.redis_password,
        })
        env.update(self.extra_env)
        return env

    def run(self, argv: Sequence[str], *, timeout_s: float = 900, stdin: str | None = None) -> str:
        done = subprocess.run(list(argv), cwd=REPO, env=self.env(), input=stdin, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
            raise StackError(f"{' '.join(argv)} exited {done.returncode}:\n{tail}")
        return done.stdout

    def compose(self, *args: str, timeout_s: float = 900, stdin: str | None = None) -> str:
        binary = compose_binary()
        if binary is None:
            raise StackError("docker-compose is not installed (bash scripts/setup.d/70-compose.sh)")
        files = [arg for path in self.compose_files for arg in ("-f", str(path))]
        return self.run([binary, *files, *args], timeout_s=timeout_s, stdin=stdin)

    def build(self) -> str:
        return self.run(["bash", str(REPO / "deploy" / "build.sh")], timeout_s=1800)

    def up(self, *args: str) -> None:
        self.compose("up", "-d", *args, timeout_s=900)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout_s=300)

    def logs(self) -> str:
        try:
            return self.compose("logs", "--no-color", "--tail", "60", timeout_s=60)
        except (StackError, subprocess.TimeoutExpired) as exc:
            return str(exc)

    def exec(self, service: str, *argv: str, stdin: str | None = None, timeout_s: float = 300) -> str:
        return self.compose("exec", "-T", service, *argv, stdin=stdin, timeout_s=timeout_s)

    def wait_web(self, timeout_s: float = 300) -> float:
        """Seconds until the portal's login page answers 200."""
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(self.url + "login", timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - started > timeout_s:
                raise StackError(f"the portal at {self.url} did not answer within {timeout_s:.0f} s")
            time.sleep(0.5)

    def seed_course(self) -> dict[str, str]:
        """The demo course (instructor, TA, students, the assignment); returns username -> password."""
        self.exec("web", "nngrade", "demo", "seed")
        text = self.exec("web", "sh", "-c", "cat /var/lib/nngrade/demo-credentials*.txt")
        return _credentials(text)

    def import_canary_accounts(self, cases: str = "all") -> dict[str, str]:
        """One student account per canary case, through `nngrade roster import`."""
        roster = self.exec("web", "python", "-m", "cli.canary", "--print-roster", "--cases", cases)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = f"/var/lib/nngrade/canary-{stamp}.csv"
        self.exec("web", "sh", "-c", f"cat > /tmp/canary-roster.csv && nngrade roster import /tmp/canary-roster.csv "
                  f"--credentials {path} >/dev/null && cat {path}", stdin=roster)
        return _credentials(self.exec("web", "cat", path))

    def export(self, assignment: str = ASSIGNMENT) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.exec("web", "nngrade", "export", assignment))))


def _credentials(text: str) -> dict[str, str]:
    rows: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("username") and row.get("username") != "username":
            rows[row["username"]] = row["password"]
    return rows
