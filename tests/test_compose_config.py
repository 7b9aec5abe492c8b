"""Secure deployment defaults in the compose files, checked with docker-compose itself (no engine needed).

No default passwords; compose refuses to start without the database and Redis passwords; Redis demands its
password on every connection wherever it runs, so publishing it (expose.compose.yml) exposes nothing; a
worker shares no volume with the portal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "docker-compose.yml"
EXPOSE = REPO / "deploy" / "expose.compose.yml"
WORKERS = REPO / "deploy" / "worker.compose.yml"
SECRETS = {"POSTGRES_PASSWORD": "pg-secret-1", "REDIS_PASSWORD": "redis-secret-2"}


def compose_config(*files: Path, **env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (bash scripts/setup.d/70-compose.sh)")
    clean = {k: v for k, v in os.environ.items() if k not in (*SECRETS, "NNGRADE_MAIN", "NNGRADE_PRIVATE_IP")}
    args = [binary, *(a for f in files for a in ("-f", str(f))), "config"]
    return subprocess.run(args, cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("files", "extra"),
    [((MAIN,), {}), ((MAIN, EXPOSE), {"NNGRADE_PRIVATE_IP": "10.0.0.5"}), ((WORKERS,), {"NNGRADE_MAIN": "10.0.0.5"})],
)
@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_password(files: tuple[Path, ...], extra: dict[str, str],
                                                        missing: str) -> None:
    given = {k: v for k, v in SECRETS.items() if k != missing}
    done = compose_config(*files, **given, **extra)
    assert done.returncode != 0 and f"set {missing}" in done.stderr, done.stderr


def test_no_default_password_anywhere() -> None:
    for path in (MAIN, EXPOSE, WORKERS):
        text = path.read_text()
        assert ":-nngrade}" not in text and "PASSWORD:-" not in text, path


def services(config_text: str) -> dict[str, str]:
    """Each service's block of `docker-compose config` output (YAML, read as text: no YAML library here)."""
    body = ("\n" + config_text).split("\nservices:\n", 1)[1].split("\nversion:", 1)[0]
    parts = re.split(r"^  ([a-z-]+):\n", body, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def named_volumes(block: str) -> set[str]:
    """Named volumes a service mounts (short syntax `- name:/path:mode`; host paths start with /)."""
    return {m.group(1) for m in re.finditer(r"^    - ([a-z][\w-]*):/", block, flags=re.MULTILINE)}


def test_redis_requires_its_password_wherever_it_is_published() -> None:
    done = compose_config(MAIN, EXPOSE, **SECRETS, NNGRADE_PRIVATE_IP="10.0.0.5")
    assert done.returncode == 0, done.stderr
    blocks = services(done.stdout)
    redis = blocks["redis"]
    assert '--requirepass "$$REDIS_PASSWORD"' in redis and "REDIS_PASSWORD: redis-secret-2" in redis
    assert "- 10.0.0.5:6379:6379/tcp" in redis
    for name in ("web", "worker", "init"):
        assert "NNGRADE_REDIS_URL: redis://:redis-secret-2@redis:6379/0" in blocks[name]
        assert "pg-secret-1@postgres:5432/nngrade" in blocks[name]


def test_workers_share_no_volume_with_the_portal() -> None:
    done = compose_config(MAIN, **SECRETS)
    assert done.returncode == 0, done.stderr
    blocks = services(done.stdout)
    # The MNIST cache, read-only, is all a worker mounts besides its engine's socket and its scratch.
    assert named_volumes(blocks["worker"]) == {"data"}
    assert "submissions" not in named_volumes(blocks["web"])
    remote = compose_config(WORKERS, **SECRETS, NNGRADE_MAIN="10.0.0.5")
    assert remote.returncode == 0, remote.stderr
    worker = services(remote.stdout)["worker"]
    assert named_volumes(worker) == set() and "NNGRADE_STORAGE_DIR" not in worker
    assert "NNGRADE_REDIS_URL: redis://:redis-secret-2@10.0.0.5:6379/0" in worker
