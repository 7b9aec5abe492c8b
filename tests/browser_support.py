"""Waits for browser tests that look at where the page is, not at text that merely mentions it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit


def path_starts_with(prefix: str) -> Callable[[object], bool]:
    """An expected condition true once the current page's path (not its query) starts with `prefix`.

    Selenium's `url_contains` also matches the query string, so on `/account/password?next=/assignments/nn/`
    a wait for `/assignments/nn/` returns before the browser has left the page.
    """

    def arrived(driver: object) -> bool:
        return urlsplit(str(getattr(driver, "current_url", ""))).path.startswith(prefix)

    return arrived
