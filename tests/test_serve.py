"""`nngrade serve` stops on Ctrl-C as a terminal sends it: SIGINT to the whole process group, master and workers.

A gunicorn 27 gthread worker signalled to quit while it hands a request to its thread pool waits on itself until
the master kills it after the graceful timeout ("Worker ... was sent SIGKILL!"), so `make serve` ended in an
error; web/gunicorn_conf.py has workers quit as on SIGTERM. The race shows in some stops only, hence several
rounds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from portal_support import settings_env
from test_worker_support import free_port, wait_for

from nngrade.settings import Settings

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 5

pytestmark = pytest.mark.slow


def test_ctrl_c_stops_the_portal_and_its_workers_at_once(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", data_dir=data_dir,
                        storage_dir=tmp_path / "subs", session_cookie_secure=False)
    env = {**os.environ, **settings_env(settings)}
    env.pop("NNGRADE_SECRET_KEY")  # `nngrade serve` makes var/secret_key itself
    for _ in range(ROUNDS):
        code, text = _serve_then_ctrl_c(tmp_path, env)
        assert code == 0 and "SIGKILL" not in text and "exited with code" not in text, text[-3000:]


def _serve_then_ctrl_c(tmp_path: Path, env: dict[str, str]) -> tuple[int | None, str]:
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "nngrade"), "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            return requests.get(url + "/login", timeout=10).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    code = None
    try:
        wait_for(up, 60, "the portal to serve the login page", interval_s=0.2)
        for _ in range(4):  # both workers busy for a moment, as after a student's clicks
            assert requests.get(url + "/login", timeout=10).status_code == 200
            assert requests.get(url + "/kit/", timeout=10, allow_redirects=False).status_code == 302
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=15)  # far below gunicorn's graceful timeout (20 s) in nngrade serve
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return code, log.read_text()
