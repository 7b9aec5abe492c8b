"""Drill: a worker on a "second machine" grades an upload made through the portal.

The main stack (docker-compose.yml + deploy/expose.compose.yml, its own workers scaled to zero) publishes
Redis and PostgreSQL, password-protected, on the Docker bridge's gateway. A second compose project
(deploy/worker.compose.yml) with its own host directory (MNIST cache, scratch) runs the only worker: it
reaches the main machine through those two ports and its own engine, and shares no volume with the
portal. A student uploads the staff solution over HTTP; it is graded 12/12 by that worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.canary_portal import Portal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from deploy.stack import COMPOSE_FILE, Stack, StackError, compose_binary, free_port  # noqa: E402

APP_IMAGE = "nngrade-app:drill-second-machine"
EXPOSE = REPO / "deploy" / "expose.compose.yml"
WORKERS = REPO / "deploy" / "worker.compose.yml"
GRADE_TIMEOUT_S = 300.0

pytestmark = [pytest.mark.slow, pytest.mark.compose, pytest.mark.docker, pytest.mark.timeout(1500)]


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("NNGRADE_REQUIRE_DOCKER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: reachable from every container, not from outside."""
    done = subprocess.run(["docker", "network", "inspect", "bridge", "--format",
                           "{{(index .IPAM.Config 0).Gateway}}"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or "172.17.0.1"


@pytest.fixture(scope="module")
def machines() -> Iterator[tuple[Stack, Stack]]:
    _require(compose_binary() is not None, "docker-compose is not installed (bash scripts/setup.d/70-compose.sh)")
    gateway = bridge_gateway()
    ports = {"NNGRADE_POSTGRES_PORT": str(free_port()), "NNGRADE_REDIS_PORT": str(free_port())}
    main = Stack(project=f"nngradedrillmain{os.getpid()}", host_dir=REPO / "var" / "drill-main",
                 compose_files=(COMPOSE_FILE, EXPOSE),
                 extra_env={"APP_IMAGE": APP_IMAGE, "NNGRADE_PRIVATE_IP": gateway, **ports})
    remote_dir = REPO / "var" / "drill-remote"
    remote = Stack(project=f"nngradedrillremote{os.getpid()}", host_dir=remote_dir, compose_files=(WORKERS,),
                   postgres_password=main.postgres_password, redis_password=main.redis_password,
                   extra_env={"APP_IMAGE": APP_IMAGE, "NNGRADE_MAIN": gateway, "NNGRADE_WORKER_CONCURRENCY": "2",
                              **ports})
    try:
        main.build()
    except StackError as exc:
        _require(False, f"cannot build the stack's images: {exc}")
    # The second machine's own MNIST cache and scratch directory (what deploy/build.sh prepares there).
    shutil.rmtree(remote_dir, ignore_errors=True)
    (remote_dir / "scratch").mkdir(parents=True)
    (remote_dir / "scratch").chmod(0o700)
    shutil.copytree(main.host_dir / "data", remote_dir / "data", copy_function=os.link)
    try:
        main.up("--scale", "worker=0")
        main.wait_web()
        remote.up()
        yield main, remote
    except BaseException:
        print(main.logs())
        print(remote.logs())
        raise
    finally:
        remote.down()
        main.down()


def mounts(container: str) -> list[dict[str, str]]:
    done = subprocess.run(["docker", "inspect", "--format", "{{json .Mounts}}", container], capture_output=True,
                          text=True, timeout=30, check=True)
    found: list[dict[str, str]] = json.loads(done.stdout)
    return found


def test_a_worker_on_another_machine_grades_a_portal_upload(machines: tuple[Stack, Stack]) -> None:
    main, remote = machines
    credentials = main.seed_course()
    portal = Portal(main.url)
    portal.log_in("s1001", credentials["s1001"], new_password="drill-" + credentials["s1001"])
    submission_id, status, body = portal.upload((REPO / "reference_solutions" / "staff" / "models.py").read_bytes())
    assert submission_id is not None, f"upload refused: HTTP {status}: {body[:300]}"
    deadline = time.monotonic() + GRADE_TIMEOUT_S
    while (state := portal.status(submission_id))["pending"]:
        assert time.monotonic() < deadline, f"still {state['status']} after {GRADE_TIMEOUT_S:.0f} s"
        time.sleep(1.0)
    assert (state["points"], state["max_points"]) == (12, 12), state

    remote_worker = remote.compose("ps", "-q", "worker").strip()
    hostname = subprocess.run(["docker", "inspect", "--format", "{{.Config.Hostname}}", remote_worker],
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    graded_by = main.exec("web", "python", "-c", (
        "from nngrade.settings import load_settings; from gradebook.db import make_engine; "
        "from sqlalchemy import text; e = make_engine(load_settings().database_url); "
        "print(e.connect().execute(text('SELECT worker_id FROM grading_runs WHERE status = :s'), "
        "{'s': 'done'}).scalar())")).strip()
    assert graded_by.startswith(f"grader@{hostname}/"), graded_by
    status_text = main.exec("web", "nngrade", "status")
    assert f"grader@{hostname}/" in status_text and "workers alive: 1" in status_text, status_text

    web = main.compose("ps", "-q", "web").strip()
    portal_volumes = {m["Name"] for m in mounts(web) if m["Type"] == "volume"}
    worker_mounts = mounts(remote_worker)
    assert not [m for m in worker_mounts if m["Type"] == "volume"], worker_mounts  # no volume at all
    assert {m["Source"] for m in worker_mounts} == {
        str(remote.host_dir / "data"), str(remote.host_dir / "scratch"), "/var/run/docker.sock"}
    assert portal_volumes and not portal_volumes & {m.get("Name", "") for m in worker_mounts}
