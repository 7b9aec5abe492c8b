"""What a sandbox container is: its settings, limits and mounts, as one `ContainerSpec`.

The container has no network, a read-only root, a small noexec tmpfs at /tmp, memory == memory+swap,
a CPU quota, a pid cap, no capabilities, no-new-privileges, uid 10001, and sees only a copy of
models.py (/submission), the public MNIST cache (/data) and, for q2 on the test images, the integrity
check's copy of them made for this attempt (/challenge, removed with the attempt).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from grader.challenge import CopyKey, write_new_copy
from grader.harness import bootstrap_command
from grader.numerics import PINNED_NUMERICS_ENV, blas_thread_env
from sandbox.engine import OWNER_LABEL, PROCESS_LABEL, SANDBOX_LABEL, ContainerSpec
from sandbox.limits import MIB, SandboxLimits
from sandbox.owner import process_stamp

CODE_ROOT = "/opt/nngrade"
SUBMISSION_DIR = "/submission"
DATA_DIR = "/data"
CHALLENGE_DIR = "/challenge"  # the integrity check's copy of the graded images (grader.challenge), read-only
SCRATCH_DIR = "/tmp"
SANDBOX_USER = "10001:10001"


def sandbox_spec(
    image: str,
    owner: str,
    limits: SandboxLimits,
    public_data_dir: Path,
    submission_dir: Path,
    challenge_dir: Path | None = None,
) -> ContainerSpec:
    """The locked-down container that runs the harness on `submission_dir` (a directory holding models.py).

    Raises OSError when the public MNIST directory is missing.
    """
    if not public_data_dir.is_dir():
        raise OSError(f"the public MNIST directory {public_data_dir} does not exist (nngrade data fetch)")
    binds = {
        str(submission_dir): {"bind": SUBMISSION_DIR, "mode": "ro"},
        str(public_data_dir): {"bind": DATA_DIR, "mode": "ro"},
    }
    if challenge_dir is not None:
        binds[str(challenge_dir)] = {"bind": CHALLENGE_DIR, "mode": "ro"}
    return ContainerSpec(
        image=image,
        command=bootstrap_command("python3", Path(CODE_ROOT)),
        user=SANDBOX_USER,
        working_dir=SCRATCH_DIR,
        # Only what the harness needs; the image supplies PATH, LANG, HOME. Nothing of the host's.
        environment={
            **PINNED_NUMERICS_ENV,
            **blas_thread_env(limits.blas_threads),
            "TMPDIR": SCRATCH_DIR,
            # glibc malloc: arrays up to 4 MiB from the heap, and no trimming of it after every free;
            # by default each large numpy temporary is a fresh mmap and a storm of page faults
            # (BENCHMARKS.md, allocator). Values are unchanged: only where memory comes from.
            "MALLOC_MMAP_THRESHOLD_": "4194304",
            "MALLOC_TRIM_THRESHOLD_": "134217728",
        },
        labels={SANDBOX_LABEL: "1", OWNER_LABEL: owner, PROCESS_LABEL: process_stamp()},
        binds=binds,
        tmpfs={SCRATCH_DIR: f"rw,noexec,nosuid,nodev,size={limits.scratch_mb}m,mode=1777"},
        memory_bytes=limits.memory_bytes,
        nano_cpus=limits.nano_cpus,
        pids=limits.pids,
        shm_bytes=limits.scratch_mb * MIB,
        ulimits={"core": 0, "nofile": limits.open_files},
    )


@contextlib.contextmanager
def submission_copy(submission: Path) -> Iterator[Path]:
    """A fresh directory holding only models.py, readable by the sandbox user, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="nngrade-submission-"))
    try:
        shutil.copyfile(submission, tmp / "models.py")
        os.chmod(tmp / "models.py", 0o644)
        os.chmod(tmp, 0o755)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def challenge_copy(public_dir: Path, source: str | None) -> Iterator[tuple[CopyKey, Path] | None]:
    """The integrity check's copy for one attempt in a fresh directory, with its key; removed afterwards.

    None when the attempt has no copy (q1, the validation split). Raises CopyError when it cannot be made.
    """
    if source is None:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="nngrade-challenge-"))
    try:
        key, _ = write_new_copy(public_dir / source, tmp)
        os.chmod(tmp, 0o755)
        yield key, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
