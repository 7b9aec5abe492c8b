"""When a queued submission will likely start grading, from the measured throughput.

The model is list scheduling with known durations: `slots` grading processes, each busy for the remaining
part of its current run (a typical run minus what it has already run) or free; every run ahead of ours takes
the slot that frees first and holds it for a typical run; ours starts when the next slot frees. A typical run
is the median duration of recently graded runs. While work waits, every live slot is busy, so the number of
running runs is a lower bound for the slots even when the workers cannot be asked.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# A run already past the typical duration is assumed to end soon, not now.
MIN_REMAINING_FRACTION = 0.1


@dataclass(frozen=True)
class Throughput:
    """What the estimate needs: recent run durations, the running runs' ages and the live slots (seconds)."""

    typical_run_s: float | None  # median duration of recently graded runs; None before any
    running_elapsed_s: tuple[float, ...]  # how long each running run has been running
    slots: int | None  # grading processes alive; None when nobody can tell


def typical_duration_s(durations_s: Sequence[float]) -> float | None:
    """The median of positive, finite durations; None when there are none."""
    usable = [d for d in durations_s if d > 0 and d == d and d != float("inf")]
    return statistics.median(usable) if usable else None


def live_slots(workers: int | None, running: int) -> int | None:
    """Slots that grade: at least the running runs; 0 when no worker answered and nothing runs."""
    if workers is None:
        return running or None
    return max(workers, running)


def estimated_start_s(ahead: int, throughput: Throughput) -> float | None:
    """Seconds until a queued run with `ahead` runs before it starts; None when it cannot be estimated
    (no run graded yet, or no worker alive)."""
    typical = throughput.typical_run_s
    slots = throughput.slots
    if typical is None or not slots or ahead < 0:
        return None
    floor = typical * MIN_REMAINING_FRACTION
    busy = sorted(max(typical - e, floor) for e in throughput.running_elapsed_s)[:slots]
    free_at = busy + [0.0] * (slots - len(busy))
    heapq.heapify(free_at)
    for _ in range(ahead):
        heapq.heappush(free_at, heapq.heappop(free_at) + typical)
    return free_at[0]
