"""Do concurrent q2 sandboxes share the memory-mapped MNIST images? Measured from the host, as root.

    .venv/bin/python bench/bench_mnist_sharing.py [--concurrent 2] [--data-dir DIR]

The kit maps the public cache's images copy-on-write (`np.load(mmap_mode="c")`) from the read-only /data
bind mount. Runs the staff solution's q2 in N Docker sandboxes at once (the real runner, image and limits),
then in one sandbox alone, and samples every student process's mapping of each image file in
/proc/<pid>/smaps while they train: Rss (pages mapped), Pss (Rss divided among the processes mapping each
page), Shared_* / Private_* (whether other processes map the same page; Dirty is the page's own state), and
Anonymous (pages copied on write: a private copy); and each container's memory cgroup (v1 memory.stat:
cache, rss, mapped_file). Pages shared through the host's page cache show as Pss = Rss / (processes mapping
the file) with Anonymous 0; private copies would show as Anonymous and as more page cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.config import AssignmentConfig  # noqa: E402
from grader.runs import RunRequest  # noqa: E402
from sandbox.engine import OWNER_LABEL, SANDBOX_LABEL  # noqa: E402
from sandbox.runner import DockerRunner, DockerSettings  # noqa: E402

STAFF = REPO / "reference_solutions" / "staff" / "models.py"
IMAGE_FILES = ("train_images.npy", "dev_images.npy", "test_images.npy")
SMAPS_FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Anonymous")
CGROUP_FIELDS = ("cache", "rss", "mapped_file")
MIB = 1024 * 1024


def student_pid(harness_pid: int) -> int | None:
    """The harness's forked child (the student's process), seen from the host."""
    try:
        children = Path(f"/proc/{harness_pid}/task/{harness_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def image_mappings(pid: int) -> dict[str, dict[str, int]]:
    """Per image file mapped by `pid`: the smaps fields in bytes (summed over its mappings)."""
    found: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = os.path.basename(head[5]) if len(head) >= 6 else ""
            current = found.setdefault(name, dict.fromkeys(SMAPS_FIELDS, 0)) if name in IMAGE_FILES else None
        elif current is not None and head and head[0].rstrip(":") in SMAPS_FIELDS:
            current[head[0].rstrip(":")] += int(head[1]) * 1024
    return found


def cgroup_memory(container_id: str) -> dict[str, int]:
    stat = Path(f"/sys/fs/cgroup/memory/docker/{container_id}/memory.stat")
    values: dict[str, int] = {}
    try:
        for line in stat.read_text().splitlines():
            key, value = line.split()
            if key in CGROUP_FIELDS:
                values[key] = int(value)
    except OSError:
        pass
    return values


def page_cache_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1]) * 1024
    return 0


def processes_mapping(inode: int) -> int:
    """How many processes on the host map the file with this inode (anyone's: Pss divides among them all)."""
    count = 0
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            with open(maps) as handle:
                if any(line.split()[4] == str(inode) for line in handle if len(line.split()) >= 6):
                    count += 1
        except OSError:
            continue
    return count


def sample(runner: DockerRunner, owner: str, inode: int) -> list[dict[str, Any]]:
    """One look at every running sandbox of `owner`: its student's image mappings and its cgroup."""
    api = runner.engine()._api
    mappers = processes_mapping(inode)
    rows = []
    for container in api.containers(filters={"label": [f"{SANDBOX_LABEL}=1", f"{OWNER_LABEL}={owner}"]}):
        harness = int(api.inspect_container(container["Id"])["State"].get("Pid") or 0)
        pid = student_pid(harness) if harness else None
        if pid is None:
            continue
        rows.append({"container": container["Id"][:12], "pid": pid, "maps": image_mappings(pid),
                     "cgroup": cgroup_memory(container["Id"]), "mappers": mappers})
    return rows


def measure(data_dir: Path, concurrent: int) -> None:
    owner = f"bench-sharing-{os.getpid()}"
    runner = DockerRunner(DockerSettings(data_dir=data_dir, owner=owner))
    limits = AssignmentConfig().limits_for("q2")
    done = threading.Event()
    best: list[dict[str, Any]] = []
    inode = (data_dir / "public" / IMAGE_FILES[0]).stat().st_ino
    cache_before = page_cache_bytes()
    cache_peak = cache_before

    def watch() -> None:
        nonlocal best, cache_peak
        while not done.is_set():
            rows = sample(runner, owner, inode)
            total = sum(m["Rss"] for row in rows for m in row["maps"].values())
            if len(rows) == concurrent and total >= sum(m["Rss"] for row in best for m in row["maps"].values()):
                best = rows
            cache_peak = max(cache_peak, page_cache_bytes())
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(concurrent) as pool:
        outcomes = list(pool.map(lambda _: runner.run(RunRequest(STAFF, "q2", 0, limits)), range(concurrent)))
    done.set()
    watcher.join()
    runner.close()
    statuses = ", ".join(f"{o.status} {o.wall_s:.1f} s wall, {o.cpu_s:.1f} s CPU, peak {o.peak_memory_mb:.0f} MB"
                         for o in outcomes)
    print(f"{concurrent} sandbox(es) at once: {statuses}")
    print(f"  host page cache: {cache_before / MIB:.0f} MB before, {cache_peak / MIB:.0f} MB at most during the run")
    if not best:
        print("  no sample caught every student process while it trained")
    for row in best:
        print(f"  container {row['container']} (student pid {row['pid']}; {row['mappers']} processes on the host "
              f"mapped {IMAGE_FILES[0]} then), cgroup "
              + ", ".join(f"{k} {v / MIB:.0f} MB" for k, v in row["cgroup"].items()))
        for name, fields in sorted(row["maps"].items()):
            print(f"    {name:<18}" + "  ".join(f"{k} {v / MIB:7.1f} MB" for k, v in fields.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNGRADE_DATA_DIR", REPO / "var/data")))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("reading other processes' smaps needs root")
    with open("/proc/loadavg") as handle:
        print(f"load average before: {' '.join(handle.read().split()[:3])}")
    measure(args.data_dir, args.concurrent)
    measure(args.data_dir, 1)


if __name__ == "__main__":
    main()
