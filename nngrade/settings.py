"""One frozen settings object built from the environment; only entry points call `load_settings`."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RunnerKind = Literal["auto", "docker", "local"]
RUNNER_KINDS: tuple[RunnerKind, ...] = ("auto", "docker", "local")
# The installation's own var/ (next to nngrade/, where `make serve` keeps its state), whatever the current
# directory: a command run from elsewhere finds the same gradebook instead of starting an empty one there.
DEFAULT_VAR_DIR = Path(__file__).resolve().parent.parent / "var"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The service's settings, read once from NNGRADE_* variables by `load_settings` (README, "Configuration"); sizes in
    bytes, intervals in seconds."""

    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = f"sqlite:///{DEFAULT_VAR_DIR / 'nngrade.sqlite3'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = DEFAULT_VAR_DIR / "data"
    storage_dir: Path = DEFAULT_VAR_DIR / "submissions"
    runner: RunnerKind = "auto"
    secret_key: str = field(default="", repr=False)
    worker_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    upload_max_bytes: int = 256 * 1024
    upload_min_interval_s: int = 60
    uploads_per_day: int = 30
    session_cookie_secure: bool = True  # False only on request (NNGRADE_INSECURE_COOKIES=1), and only on loopback
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    # Where browsers reach the portal when that is not web_host: a container bound to 0.0.0.0 whose port is
    # published on the host's 127.0.0.1 (docker-compose sets it from NNGRADE_BIND).
    published_host: str = ""
    # How many reverse proxies (a TLS terminator) stand in front of the portal and append X-Forwarded-For;
    # 0 trusts no such header, so a client cannot pick the address its sign-ins are throttled by.
    trusted_proxies: int = 0


def load_settings(environ: Mapping[str, str] | None = None, *, make_secret: bool = False) -> Settings:
    """Read NNGRADE_* variables; fail now, with the variable's name, rather than later.

    Without NNGRADE_SECRET_KEY the secret is read from var/secret_key; `make_secret` (the portal's entry
    point) creates that file when it is missing, and otherwise the secret stays empty: a command that signs
    nothing creates nothing.
    """
    env = os.environ if environ is None else environ
    var_dir = Path(env.get("NNGRADE_VAR_DIR") or DEFAULT_VAR_DIR)
    runner = env.get("NNGRADE_RUNNER", "auto")
    if runner not in RUNNER_KINDS:
        raise SettingsError(f"NNGRADE_RUNNER must be one of {', '.join(RUNNER_KINDS)}, got {runner!r}")
    return Settings(
        var_dir=var_dir,
        database_url=env.get("NNGRADE_DATABASE_URL", f"sqlite:///{var_dir / 'nngrade.sqlite3'}"),
        redis_url=env.get("NNGRADE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        data_dir=Path(env.get("NNGRADE_DATA_DIR", str(var_dir / "data"))),
        storage_dir=Path(env.get("NNGRADE_STORAGE_DIR", str(var_dir / "submissions"))),
        runner=runner,
        secret_key=env.get("NNGRADE_SECRET_KEY") or _local_secret(var_dir, create=make_secret),
        worker_concurrency=_int(env, "NNGRADE_WORKER_CONCURRENCY", os.cpu_count() or 1),
        upload_max_bytes=_int(env, "NNGRADE_UPLOAD_MAX_BYTES", 256 * 1024),
        upload_min_interval_s=_int(env, "NNGRADE_UPLOAD_MIN_INTERVAL_S", 60),
        uploads_per_day=_int(env, "NNGRADE_UPLOADS_PER_DAY", 30),
        session_cookie_secure=env.get("NNGRADE_INSECURE_COOKIES", "") != "1",
        web_host=env.get("NNGRADE_WEB_HOST", "127.0.0.1"),
        web_port=_int(env, "NNGRADE_WEB_PORT", 8000),
        published_host=env.get("NNGRADE_PUBLISHED_HOST", ""),
        trusted_proxies=_int(env, "NNGRADE_TRUSTED_PROXIES", 0),
    )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {value}")
    return value


def _local_secret(var_dir: Path, *, create: bool) -> str:
    """A per-installation secret kept in var/, so a single-machine install needs no set-up; "" when the file
    is missing and `create` is False."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    if not create:
        return ""
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
