"""Accounts as users expect, against a running portal over HTTP: sign-in throttled per account and per
address with counts in a real Redis (shared by every portal process), a forced password change at first
login, a password change that ends the user's other sessions, and cookies secure off loopback."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pytest
import redis
from portal_support import (
    REPO,
    SECRET,
    Account,
    Browser,
    RecordingQueue,
    csrf_token,
    make_course,
    served,
    settings_env,
)
from test_worker_support import RedisServer, redis_server  # noqa: F401  # a fixture

from nngrade.settings import Settings, SettingsError
from web import create_app

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ALICE = Account("alice", "alice-password-1")
BOB = Account("bob", "bob-password-1")
NEWBIE = Account("newbie", "handed-out-pw-1", must_change_password=True)
TARA = Account("tara", "tara-password-1", role="ta", must_change_password=True)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:  # noqa: F811
    s = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", redis_url=redis_server.url,
                 storage_dir=tmp_path / "subs", data_dir=tmp_path / "data", secret_key=SECRET,
                 session_cookie_secure=False)
    make_course(s, [ALICE, BOB, NEWBIE, TARA])
    return s


def _flush(redis_server: RedisServer) -> None:  # noqa: F811
    redis.Redis.from_url(redis_server.url).flushdb()


@pytest.fixture
def portal(settings: Settings, redis_server: RedisServer) -> Iterator[str]:  # noqa: F811
    _flush(redis_server)
    with served(settings, RecordingQueue()) as url:
        yield url


def test_failed_sign_ins_are_throttled_per_account_in_redis(settings: Settings, redis_server: RedisServer) -> None:  # noqa: F811
    _flush(redis_server)
    app_a = create_app(settings, RecordingQueue())
    app_b = create_app(settings, RecordingQueue())  # a second portal process sharing the same Redis
    for app in (app_a, app_b):
        app.config.update(NNGRADE_LOGIN_LIMIT_PER_ACCOUNT="3 per 15 minutes",
                          NNGRADE_LOGIN_LIMIT_PER_ADDRESS="100 per 15 minutes")
    import threading

    from werkzeug.serving import make_server

    servers = [make_server("127.0.0.1", 0, app, threaded=True) for app in (app_a, app_b)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        a, b = (f"http://127.0.0.1:{s.server_port}" for s in servers)
        # Two failures on one process, one on the other: the third reaches the limit across both.
        for url in (a, a, b):
            assert Browser(url).log_in("alice", "wrong").status_code == 401
        refused = Browser(a).log_in("alice", ALICE.password)
        assert refused.status_code == 429
        assert "Too many failed sign-ins for this account." in refused.text
        assert "Try again in" in refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
        assert Browser(b).log_in("ALICE ", ALICE.password).status_code == 429  # same account, typed otherwise
        # Another account from the same address is not affected, and its success costs nothing.
        ok = Browser(b).log_in("bob", BOB.password)
        assert ok.status_code == 200 and ok.url.endswith("/submissions/")
        keys = [k.decode() for k in redis.Redis.from_url(redis_server.url).keys("*")]
        assert any("nngrade-throttle" in k and "account:alice" in k for k in keys), keys
    finally:
        for server in servers:
            server.shutdown()


def test_failed_sign_ins_are_throttled_per_address(settings: Settings, redis_server: RedisServer) -> None:  # noqa: F811
    _flush(redis_server)
    app = create_app(settings, RecordingQueue())
    app.config.update(NNGRADE_LOGIN_LIMIT_PER_ACCOUNT="100 per 15 minutes",
                      NNGRADE_LOGIN_LIMIT_PER_ADDRESS="4 per 15 minutes")
    client = app.test_client()
    for n in range(4):
        assert _login(client, f"nobody{n}", "guess").status_code == 401
    response = _login(client, "bob", BOB.password)
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network address." in response.text
    other = app.test_client()
    assert _login(other, "bob", BOB.password, address="10.9.8.7").status_code == 302


def _login(client: object, username: str, password: str, address: str = "127.0.0.1",
           forwarded_for: str | None = None) -> object:
    from flask.testing import FlaskClient
    from portal_support import csrf_token

    assert isinstance(client, FlaskClient)
    environ = {"REMOTE_ADDR": address}
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    token = csrf_token(client.get("/login", environ_base=environ, headers=headers).text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=environ, headers=headers)


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_trusted_proxy_the_client_address_counts(
    settings: Settings, redis_server: RedisServer, hops: int  # noqa: F811
) -> None:
    """Every request arrives from the proxy's address: with NNGRADE_TRUSTED_PROXIES=1 the limit is per client
    (X-Forwarded-For); without it the header is ignored, so nobody can pick the address they are counted by."""
    _flush(redis_server)
    app = create_app(replace(settings, trusted_proxies=hops), RecordingQueue())
    app.config.update(NNGRADE_LOGIN_LIMIT_PER_ACCOUNT="100 per 15 minutes",
                      NNGRADE_LOGIN_LIMIT_PER_ADDRESS="3 per 15 minutes")
    proxy = "10.0.0.2"
    for n in range(3):
        assert _login(app.test_client(), f"nobody{n}", "guess", proxy, forwarded_for="198.51.100.7").status_code == 401
    other_client = _login(app.test_client(), "bob", BOB.password, proxy, forwarded_for="203.0.113.9")
    assert other_client.status_code == (302 if hops else 429)


def test_first_login_forces_a_password_change(portal: str) -> None:
    user = Browser(portal)
    landed = user.log_in(NEWBIE.username, NEWBIE.password)
    assert landed.url.endswith("/account/password") or "/account/password?" in landed.url
    assert "Choose your own password" in landed.text
    for path in ("/submissions/", "/assignments/nn/", "/kit/"):
        response = user.get(path, allow_redirects=False)
        assert response.status_code == 302 and "/account/password" in response.headers["Location"], path
    weak = user.post_form("/account/password", "/account/password",
                          {"current_password": NEWBIE.password, "new_password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "at least 10 characters" in weak.text
    wrong = user.post_form("/account/password", "/account/password",
                           {"current_password": "not-it-at-all", "new_password": "a-fine-password-9",
                            "confirm": "a-fine-password-9"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    same = user.post_form("/account/password", "/account/password",
                          {"current_password": NEWBIE.password, "new_password": NEWBIE.password,
                           "confirm": NEWBIE.password})
    assert same.status_code == 400 and "different from the current one" in same.text
    done = user.post_form("/account/password", "/account/password",
                          {"current_password": NEWBIE.password, "new_password": "a-fine-password-9",
                           "confirm": "a-fine-password-9"})
    assert done.status_code == 200 and done.url.endswith("/submissions/")
    assert user.get("/assignments/nn/").status_code == 200
    assert Browser(portal).log_in(NEWBIE.username, NEWBIE.password).status_code == 401
    again = Browser(portal).log_in(NEWBIE.username, "a-fine-password-9")
    assert again.status_code == 200 and again.url.endswith("/submissions/")


def test_staff_are_forced_too_and_go_home_after(portal: str) -> None:
    ta = Browser(portal)
    assert "/account/password" in ta.log_in(TARA.username, TARA.password).url
    done = ta.post_form("/account/password", "/account/password",
                        {"current_password": TARA.password, "new_password": "tara-own-pass-22",
                         "confirm": "tara-own-pass-22"})
    assert done.url.endswith("/dashboard/")


def test_password_change_ends_the_other_sessions(portal: str) -> None:
    laptop, phone = Browser(portal), Browser(portal)
    assert laptop.log_in(ALICE.username, ALICE.password).url.endswith("/submissions/")
    assert phone.log_in(ALICE.username, ALICE.password).url.endswith("/submissions/")
    done = laptop.post_form("/account/password", "/account/password",
                            {"current_password": ALICE.password, "new_password": "alice-new-pass-7",
                             "confirm": "alice-new-pass-7"})
    assert done.status_code == 200 and "Any other session of your account is signed out" in done.text
    assert laptop.get("/assignments/nn/", allow_redirects=False).status_code == 200
    ended = phone.get("/assignments/nn/", allow_redirects=False)
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]
    # The old cookie stays worthless even after a fresh login elsewhere.
    assert Browser(portal).log_in(ALICE.username, "alice-new-pass-7").status_code == 200
    assert phone.get("/submissions/", allow_redirects=False).status_code == 302


def test_insecure_cookies_refused_off_loopback(settings: Settings) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "", "grader.example.edu"):
        with pytest.raises(SettingsError, match="NNGRADE_INSECURE_COOKIES"):
            create_app(replace(settings, web_host=host), RecordingQueue(), limiter_storage_uri="memory://")
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        app = create_app(replace(settings, web_host=host), RecordingQueue(), limiter_storage_uri="memory://")
        assert app.config["SESSION_COOKIE_SECURE"] is False
    # A container bound to 0.0.0.0 whose port is published on loopback (compose's NNGRADE_BIND).
    app = create_app(replace(settings, web_host="0.0.0.0", published_host="127.0.0.1"), RecordingQueue(),
                     limiter_storage_uri="memory://")
    assert app.config["SESSION_COOKIE_SECURE"] is False
    with pytest.raises(SettingsError):
        create_app(replace(settings, web_host="127.0.0.1", published_host="0.0.0.0"), RecordingQueue(),
                   limiter_storage_uri="memory://")
    secure = create_app(replace(settings, web_host="0.0.0.0", session_cookie_secure=True), RecordingQueue(),
                        limiter_storage_uri="memory://")
    assert secure.config["SESSION_COOKIE_SECURE"] is True


def test_serve_refuses_insecure_cookies_on_a_public_bind(settings: Settings) -> None:
    env = {**settings_env(settings), "NNGRADE_INSECURE_COOKIES": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "serve", "--host", "0.0.0.0", "--port", "1"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 2
    assert "NNGRADE_INSECURE_COOKIES=1" in done.stderr and "bind it to 127.0.0.1" in done.stderr


def test_switching_language_on_the_forced_password_page_then_continuing(portal: str) -> None:
    """The header's language switch is a POST: the forced password page lets it through, and no POST-only
    address ever becomes the `next` page a user is sent back to (a 405)."""
    user = Browser(portal)
    page = "/account/password?next=/assignments/nn/"
    assert user.log_in(NEWBIE.username, NEWBIE.password).url == portal + "/account/password"
    forced = user.get("/assignments/nn/")
    assert unquote(forced.url) == portal + page
    action = re.search(r'<form class="language" method="post" action="([^"]+)"', forced.text)
    assert action, forced.text
    switched = user.post_form(page, html.unescape(action.group(1)), {"locale": "es"})
    assert switched.status_code == 200 and "Elige tu propia contraseña" in switched.text
    assert unquote(switched.url) == portal + page, switched.url
    assert "language" not in switched.url
    done = user.post_form(switched.url.removeprefix(portal), switched.url.removeprefix(portal),
                          {"current_password": NEWBIE.password, "new_password": "a-fine-password-9",
                           "confirm": "a-fine-password-9"})
    assert done.status_code == 200, done.url
    assert done.url == portal + "/assignments/nn/"


def test_a_post_is_never_the_page_to_return_to(portal: str) -> None:
    user = Browser(portal)
    user.log_in(NEWBIE.username, NEWBIE.password)
    token = csrf_token(user.get("/account/password").text)
    refused = user.http.post(portal + "/assignments/nn/submissions", data={"csrf_token": token}, timeout=60,
                             allow_redirects=False)
    assert refused.status_code == 302
    assert refused.headers["Location"].endswith("/account/password"), refused.headers["Location"]
