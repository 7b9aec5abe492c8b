"""The TA dashboard's numbers: tiles, filtering, sorting and paging of students, distributions and failure
reasons. Pure functions over the rows web/dashboard/queries.py reads; the search itself runs in SQL."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from web.services.models import RunSummary, StudentRow

SORT_KEYS = ("name", "score", "submissions", "activity", "status")
# Tiles first (each is also a filter), then the other filters.
TILES = ("queued", "running", "graded", "failed", "flagged")
STATUS_FILTERS = ("all", *TILES, "none", "full", "not_full")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
RECENT_FOR_CHARTS = 2000
# A student's latest submission state -> the tile that counts it.
TILE_OF_STATE = {"queued": "queued", "delayed": "queued", "running": "running", "graded": "graded",
                 "failed": "failed", "cancelled": "failed"}


@dataclass(frozen=True)
class Filters:
    """What the dashboard's query string asks for: search, status filter, sort, and the page."""

    query: str = ""
    status: str = "all"
    sort: str = "name"
    descending: bool = False
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, query: str | None, status: str | None, sort: str | None, order: str | None,
              page: str | None = None, per_page: str | None = None) -> Filters:
        """From raw query-string values; anything unknown or malformed falls back to the default."""
        size = int(per_page) if per_page and per_page.isdigit() and int(per_page) in PAGE_SIZES else DEFAULT_PAGE_SIZE
        return cls(
            query=(query or "").strip()[:64],
            status=status if status in STATUS_FILTERS else "all",
            sort=sort if sort in SORT_KEYS else "name",
            descending=order == "desc",
            page=max(1, min(int(page), 100_000)) if page and page.isdigit() else 1,
            per_page=size,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query-string arguments for a link to these filters with `changes` (defaults left out)."""
        values = {"q": self.query, "status": self.status, "sort": self.sort,
                  "order": "desc" if self.descending else "asc", "page": self.page, "per_page": self.per_page}
        values.update(changes)
        defaults = {"q": "", "status": "all", "sort": "name", "order": "asc", "page": 1,
                    "per_page": DEFAULT_PAGE_SIZE}
        return {k: v for k, v in values.items() if v != defaults[k]}


@dataclass(frozen=True)
class StudentPage:
    """One page of the filtered, sorted students, and where it sits among them."""

    rows: list[StudentRow]
    matching: int  # students that pass the filters
    page: int  # 1-based, clamped to the last page
    pages: int
    first: int  # 1-based position of the page's first row (0 when empty)


def tile(row: StudentRow) -> str | None:
    """The tile a student counts in by their latest submission ("flagged" is separate), or None."""
    return TILE_OF_STATE.get(row.status)


def tiles(rows: Sequence[StudentRow]) -> dict[str, int]:
    """Students per tile: latest submission queued (or delayed), running, graded, failed; flagged: any
    submission of theirs flagged by the integrity check."""
    counts = dict.fromkeys(TILES, 0)
    for row in rows:
        state = tile(row)
        if state is not None:
            counts[state] += 1
        if row.flagged:
            counts["flagged"] += 1
    return counts


def _status_matches(row: StudentRow, status: str) -> bool:
    if status == "all":
        return True
    if status == "full":
        return row.points is not None and row.points >= row.max_points
    if status == "not_full":
        return row.points is None or row.points < row.max_points
    if status == "flagged":
        return row.flagged
    if status == "none":
        return row.submissions == 0
    return tile(row) == status


def _sort_key(sort: str) -> Callable[[StudentRow], Any]:
    epoch = datetime.min
    keys: dict[str, Callable[[StudentRow], Any]] = {
        "name": lambda r: r.user.username.lower(),
        "score": lambda r: -1 if r.points is None else r.points,
        "submissions": lambda r: r.submissions,
        "activity": lambda r: (r.last_activity or epoch).replace(tzinfo=None),
        "status": lambda r: r.status,
    }
    return keys[sort]


def filter_rows(rows: Sequence[StudentRow], filters: Filters) -> list[StudentRow]:
    """The rows that pass the status filter, sorted (ties by username); the search ran in SQL already."""
    kept = [r for r in rows if _status_matches(r, filters.status)]
    kept.sort(key=lambda r: r.user.username.lower())
    kept.sort(key=_sort_key(filters.sort), reverse=filters.descending)
    return kept


def paginate(rows: Sequence[StudentRow], filters: Filters) -> StudentPage:
    """The page `filters` asks for; a page past the end shows the last one."""
    kept = filter_rows(rows, filters)
    pages = max(1, math.ceil(len(kept) / filters.per_page))
    page = min(filters.page, pages)
    start = (page - 1) * filters.per_page
    shown = kept[start:start + filters.per_page]
    return StudentPage(rows=shown, matching=len(kept), page=page, pages=pages, first=start + 1 if shown else 0)


@dataclass(frozen=True)
class Distributions:
    """What the dashboard's histograms show for the graded students: total scores, q1 losses, q2 accuracies (ratios),
    run times in seconds and the failure reasons counted by (question, outcome)."""

    scores: list[float]
    q1_losses: list[float]
    q2_accuracies: list[float]
    run_times_s: list[float]
    failure_reasons: dict[tuple[str, str], int]  # (question, outcome) -> questions not passed


def distributions(rows: Sequence[StudentRow], runs: Sequence[RunSummary]) -> Distributions:
    """Scores per student; metrics, run times and reasons for questions not passed, per graded run."""
    losses: list[float] = []
    accuracies: list[float] = []
    times: list[float] = []
    reasons: Counter[tuple[str, str]] = Counter()
    for run in runs:
        if run.wall_s is not None:
            times.append(run.wall_s)
        for question, outcome, value in run.questions:
            if value is not None and math.isfinite(value):
                if question == "q1":
                    losses.append(value)
                elif question == "q2":
                    accuracies.append(value)
            if outcome != "passed":
                reasons[(question, outcome)] += 1
    return Distributions(
        scores=[float(r.points) for r in rows if r.points is not None],
        q1_losses=losses,
        q2_accuracies=accuracies,
        run_times_s=times,
        failure_reasons=dict(reasons),
    )


def summary(rows: Sequence[StudentRow]) -> dict[str, int]:
    """Students, students who submitted, and students at full marks."""
    return {
        "students": len(rows),
        "submitted": sum(1 for r in rows if r.submissions),
        "full": sum(1 for r in rows if r.points is not None and r.points >= r.max_points),
    }
