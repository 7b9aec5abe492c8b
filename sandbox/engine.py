"""A thin adapter over the Docker SDK: the only module that talks to the engine.

Everything above it deals in container ids, plain dicts and `EngineError`; the SDK's untyped objects and
its zoo of exceptions stay here.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

DEFAULT_BASE_URL = "unix:///var/run/docker.sock"
SETUP_HINT = "start it with scripts/setup.d/50-docker.sh"

SANDBOX_LABEL = "nngrade.sandbox"
# Who started the sandbox (a worker's identity, or a `nngrade grade` process), and which process of it:
# "<pid>:<start ticks>", so the owner can tell a dead pool process from a live one.
OWNER_LABEL = "nngrade.owner"
PROCESS_LABEL = "nngrade.process"

# What the SDK raises when the engine is gone or misbehaves, as opposed to a bug of ours.
_ENGINE_FAILURES: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ConnectionError,
    OSError,
)


class EngineError(RuntimeError):
    """The Docker engine is unreachable or refused a request: an infrastructure failure, never the student's."""


class ImageMissing(EngineError):
    """The sandbox image is not present on the engine."""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything `Engine.create` needs; the runner decides the values (see `sandbox.runner`)."""

    image: str
    command: Sequence[str]
    user: str
    working_dir: str
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    binds: Mapping[str, Mapping[str, str]]  # host path -> {"bind": container path, "mode": "ro"}
    tmpfs: Mapping[str, str]
    memory_bytes: int
    nano_cpus: int
    pids: int
    shm_bytes: int
    ulimits: Mapping[str, int]  # name -> soft and hard limit
    hostname: str = "sandbox"


@dataclass(frozen=True)
class ContainerInfo:
    """A container as listed by the engine: enough to decide whether it is an orphan."""

    id: str
    labels: Mapping[str, str]
    created_s: float  # Unix time, by the engine's clock
    running: bool


@dataclass(frozen=True)
class ExitState:
    exit_code: int | None
    oom_killed: bool
    error: str


class Attachment:
    """The hijacked attach connection: `sock` to read and write, `hang_up` and `close` to end it."""

    def __init__(self, sock: socket.socket, wrapper: Any) -> None:
        self.sock = sock
        self._wrapper = wrapper  # the SDK's file object over `sock`; it holds the descriptor open too

    def hang_up(self) -> None:
        """End the connection at once, even while the wrappers still reference the descriptor."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.hang_up()
        # Not the HTTP response: closing it hands the dead connection back to the pool for reuse.
        with contextlib.suppress(OSError):
            self.sock.close()
            if self._wrapper is not self.sock:
                self._wrapper.close()


class Engine:
    """One connection to one Docker engine; cheap calls, each a single API request."""

    def __init__(self, client: Any, base_url: str) -> None:
        self._client = client
        self._api: Any = client.api
        self.base_url = base_url

    @classmethod
    def connect(cls, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 60.0) -> Engine:
        """Connect and ping; an unreachable engine raises `EngineError` with the fix in the message."""
        client = None
        try:
            if base_url.startswith("unix://"):
                _probe_unix_socket(base_url.removeprefix("unix://"), timeout_s)
            client = docker.DockerClient(base_url=base_url, version="auto", timeout=int(timeout_s))
            client.ping()
        except _ENGINE_FAILURES as exc:
            if client is not None:
                client.close()
            raise EngineError(
                f"Docker engine not reachable at {base_url}: {SETUP_HINT} ({_short(exc)})"
            ) from exc
        return cls(client, base_url)

    def close(self) -> None:
        self._client.close()

    # -- images ---------------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        """The content digest (``sha256:...`` image id) of `ref`, or None when the engine lacks it."""
        try:
            return str(self._api.inspect_image(ref)["Id"])
        except docker.errors.ImageNotFound:
            return None
        except _ENGINE_FAILURES as exc:
            raise self._failure("inspect image", exc) from exc

    def image_labels(self, ref: str) -> dict[str, str]:
        try:
            labels = self._api.inspect_image(ref)["Config"].get("Labels") or {}
        except docker.errors.ImageNotFound as exc:
            raise ImageMissing(f"image {ref} not found") from exc
        except _ENGINE_FAILURES as exc:
            raise self._failure("inspect image", exc) from exc
        return {str(k): str(v) for k, v in labels.items()}

    def import_tarball(self, tarball: Path, repository: str, tag: str, changes: Sequence[str]) -> str:
        """``docker import``: a root filesystem tarball becomes an image; returns its id."""
        try:
            self._api.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=list(changes)
            )
        except _ENGINE_FAILURES as exc:
            raise self._failure("import image", exc) from exc
        image = self.image_id(f"{repository}:{tag}")
        if image is None:
            raise EngineError(f"docker import reported success but {repository}:{tag} is missing")
        return image

    def build(
        self,
        context_dir: Path,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
    ) -> Iterator[str]:
        """``docker build`` with the classic builder; yields the build log line by line.

        Raises `EngineError` with the tail of the log when a step fails.
        """
        tail: list[str] = []
        try:
            stream = self._api.build(
                path=str(context_dir),
                tag=tag,
                buildargs=dict(buildargs),
                labels=dict(labels),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    detail = "".join(tail[-20:])
                    raise EngineError(f"docker build failed: {chunk['error'].strip()}\n{detail}")
                text = str(chunk.get("stream") or chunk.get("status") or "")
                if text:
                    tail.append(text if text.endswith("\n") else text + "\n")
                    del tail[:-50]
                    yield text
        except EngineError:
            raise
        except _ENGINE_FAILURES as exc:
            raise self._failure("build image", exc) from exc

    def image_tags(self, repository: str) -> list[str]:
        """Every ``repository:tag`` the engine holds for `repository`."""
        try:
            images = self._api.images(name=repository)
        except _ENGINE_FAILURES as exc:
            raise self._failure("list images", exc) from exc
        return sorted(t for image in images for t in image.get("RepoTags") or () if t.startswith(repository + ":"))

    def untag(self, ref: str) -> bool:
        """Remove a tag (and its image when nothing else uses it); False when a container still needs it."""
        try:
            self._api.remove_image(ref)
        except docker.errors.ImageNotFound:
            return True
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return False
            raise self._failure("remove image", exc) from exc
        except _ENGINE_FAILURES as exc:
            raise self._failure("remove image", exc) from exc
        return True

    def tag(self, image: str, repository: str, tag: str) -> None:
        try:
            self._api.tag(image, repository, tag, force=True)
        except _ENGINE_FAILURES as exc:
            raise self._failure("tag image", exc) from exc

    # -- containers -----------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> str:
        api = self._api
        try:
            host_config = api.create_host_config(
                binds={path: dict(bind) for path, bind in spec.binds.items()},
                tmpfs=dict(spec.tmpfs),
                network_mode="none",
                read_only=True,
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                nano_cpus=spec.nano_cpus,
                pids_limit=spec.pids,
                shm_size=spec.shm_bytes,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                # No init process: the harness is PID 1, so the student's code cannot signal it.
                init=False,
                # The harness reads the container's own CPU time from /sys/fs/cgroup (cgroup v1 and v2).
                cgroupns="private",
                ipc_mode="private",
                ulimits=[
                    docker.types.Ulimit(name=name, soft=value, hard=value)
                    for name, value in spec.ulimits.items()
                ],
                # Nothing the container prints is stored by the engine: a flood must not fill the disk.
                log_config=docker.types.LogConfig(type="none"),
            )
            created = api.create_container(
                image=spec.image,
                command=list(spec.command),
                user=spec.user,
                working_dir=spec.working_dir,
                environment=dict(spec.environment),
                labels=dict(spec.labels),
                hostname=spec.hostname,
                stdin_open=True,  # with detach=False this also sets StdinOnce: EOF after our half-close
                tty=False,
                host_config=host_config,
                # Else the SDK copies proxy settings from the host's ~/.docker/config.json into the env.
                use_config_proxy=False,
            )
        except docker.errors.ImageNotFound as exc:
            raise ImageMissing(
                f"sandbox image {spec.image} is not on the engine: build it with `python -m sandbox.image build`"
            ) from exc
        except _ENGINE_FAILURES as exc:
            raise self._failure("create container", exc) from exc
        return str(created["Id"])

    def attach(self, container_id: str) -> Attachment:
        """A raw socket carrying stdin one way and multiplexed stdout/stderr frames the other.

        Attach before `start` so no output is lost between the two.
        """
        try:
            raw = self._api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
        except _ENGINE_FAILURES as exc:
            raise self._failure("attach to container", exc) from exc
        sock = getattr(raw, "_sock", raw)
        if not isinstance(sock, socket.socket):
            raise EngineError(f"cannot stream container I/O over {self.base_url} (got {type(sock).__name__})")
        return Attachment(sock, raw)

    def start(self, container_id: str) -> None:
        try:
            self._api.start(container_id)
        except _ENGINE_FAILURES as exc:
            raise self._failure("start container", exc) from exc

    def kill(self, container_id: str) -> None:
        """SIGKILL the container; a container that already stopped is not an error."""
        try:
            self._api.kill(container_id)
        except docker.errors.APIError as exc:
            if exc.status_code in (404, 409):
                return
            raise self._failure("kill container", exc) from exc
        except _ENGINE_FAILURES as exc:
            raise self._failure("kill container", exc) from exc

    def wait(self, container_id: str, timeout_s: float) -> ExitState:
        try:
            self._api.wait(container_id, timeout=timeout_s)
            state = self._api.inspect_container(container_id)["State"]
        except _ENGINE_FAILURES as exc:
            raise self._failure("wait for container", exc) from exc
        running = bool(state.get("Running"))
        code = state.get("ExitCode")
        return ExitState(
            exit_code=None if running or code is None else int(code),
            oom_killed=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
        )

    def remove(self, container_id: str) -> None:
        """Force-remove the container; one that is already gone is not an error."""
        try:
            self._api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            # 409: removal already in progress (another reaper got there first).
            if exc.status_code == 409:
                return
            raise self._failure("remove container", exc) from exc
        except _ENGINE_FAILURES as exc:
            raise self._failure("remove container", exc) from exc

    def containers(self, labels: Mapping[str, str]) -> list[str]:
        """Ids of all containers, running or not, carrying every given label."""
        return [info.id for info in self.containers_info(labels)]

    def containers_info(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """All containers, running or not, carrying every given label, with their labels and age."""
        filters = [f"{key}={value}" for key, value in labels.items()]
        try:
            found = self._api.containers(all=True, filters={"label": filters})
        except _ENGINE_FAILURES as exc:
            raise self._failure("list containers", exc) from exc
        return [
            ContainerInfo(
                id=str(c["Id"]),
                labels={str(k): str(v) for k, v in (c.get("Labels") or {}).items()},
                created_s=float(c.get("Created") or 0),
                running=str(c.get("State", "")) == "running",
            )
            for c in found
        ]

    def _failure(self, action: str, exc: BaseException) -> EngineError:
        if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
            return EngineError(f"Docker engine not reachable at {self.base_url}: {SETUP_HINT} ({_short(exc)})")
        return EngineError(f"Docker engine could not {action}: {_short(exc)}")


def _probe_unix_socket(path: str, timeout_s: float) -> None:
    """Connect once and close: the SDK leaks its socket when the first connection fails."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(timeout_s)
        probe.connect(path)
    finally:
        probe.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
