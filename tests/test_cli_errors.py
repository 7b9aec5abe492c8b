"""Newcomers' mistakes at the command line: one clear line on stderr, a non-zero status, no traceback, nothing
created and nothing half-imported. Run through the installed `nngrade` script, as people run it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nngrade.settings import DEFAULT_VAR_DIR, load_settings

NNGRADE = Path(sys.executable).parent / "nngrade"
HEADER = "username,name,email,role\n"


def nngrade(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`nngrade ARGV` in `cwd` with only `env`'s NNGRADE_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NNGRADE_")}
    return subprocess.run([str(NNGRADE), *argv], cwd=cwd, env={**base, **env}, capture_output=True, text=True,
                          timeout=120, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def gradebook(tmp_path: Path) -> dict[str, str]:
    """Settings naming a gradebook file under tmp_path (not created by the fixture)."""
    return {"NNGRADE_VAR_DIR": str(tmp_path / "var"), "NNGRADE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
            "NNGRADE_REDIS_URL": "redis://127.0.0.1:9/0"}


def accounts(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(tmp_path / "g.sqlite3") as db:
        return db.execute("SELECT username, name, email FROM users ORDER BY username").fetchall()


def test_the_default_var_dir_does_not_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.var_dir == DEFAULT_VAR_DIR and DEFAULT_VAR_DIR.is_absolute()
    assert Path(__file__).resolve().parent.parent / "var" == DEFAULT_VAR_DIR
    assert settings.database_url == f"sqlite:///{DEFAULT_VAR_DIR / 'nngrade.sqlite3'}"
    assert settings.data_dir == DEFAULT_VAR_DIR / "data"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["status"], ["retry", "1"], ["export", "nn"], ["regrade", "--apply"]])
def test_without_a_gradebook_a_command_says_so_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"NNGRADE_VAR_DIR": str(tmp_path / "var")}
    done = nngrade(*command, cwd=elsewhere, env=env)
    one_line_error(done, f"nngrade {command[0]}: no gradebook at {tmp_path / 'var' / 'nngrade.sqlite3'}")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["elsewhere"]


def test_retry_of_a_run_that_does_not_exist_says_so(tmp_path: Path, gradebook: dict[str, str]) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "s1,Ana,,student\n")
    assert nngrade("roster", "import", str(roster), cwd=tmp_path, env=gradebook).returncode == 0
    one_line_error(nngrade("retry", "999", cwd=tmp_path, env=gradebook), "no run 999")


def test_a_missing_roster_file_is_named(tmp_path: Path, gradebook: dict[str, str]) -> None:
    one_line_error(nngrade("roster", "import", "nope.csv", cwd=tmp_path, env=gradebook),
                   "cannot read nope.csv", "No such file")
    assert not (tmp_path / "g.sqlite3").exists()


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        # A Spanish Excel's "CSV (delimitado por comas)": semicolons and Windows-1252.
        ("username;name;email;role\r\ns1;José Peña;jose@uni.es;student\r\nt1;Íñigo;;ta\r\n".encode("cp1252"),
         "read as Windows-1252"),
        # Excel's "CSV UTF-8": a byte-order mark.
        ("\ufeffusername,name,email,role\ns1,José Peña,jose@uni.es,student\nt1,Íñigo,,ta\n".encode(), ""),
        ("username\tname\temail\trole\ns1\tJosé Peña\tjose@uni.es\tstudent\nt1\tÍñigo\t\tta\n".encode(), ""),
    ],
)
def test_spanish_excel_rosters_just_work(tmp_path: Path, gradebook: dict[str, str], data: bytes, shown: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(data)
    done = nngrade("roster", "import", str(roster), cwd=tmp_path, env=gradebook)
    assert done.returncode == 0, done.stderr
    assert "2 created" in done.stdout and shown in done.stdout
    assert accounts(tmp_path) == [("s1", "José Peña", "jose@uni.es"), ("t1", "Íñigo", None)]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ("s1,Ana,,student\nana lopez,Ana López,,student\n", ["line 3, column 'username'", "'ana lopez'"]),
        ("s1,Ana,,student\nana\u00a0lopez,Ana López,,student\n", ["line 3, column 'username'", "'ana\\xa0lopez'"]),
        ("s1,Ana,,student\nbea\u200b,Bea,,student\n", ["line 3, column 'username'", "invisible"]),
        ("s1,Ana,,student\n" + "x" * 65 + ",X,,student\n", ["line 3, column 'username'", "1 to 64 characters"]),
        ("s1,Ana,,student\ns2,Bea,,admin\n", ["line 3, column 'role'", "'admin'"]),
        ("s1,Ana,,student\n,Bea,,student\n", ["line 3, column 'username'", "empty"]),
        ("s1,Ana,,student\ns1,Bea,,student\n", ["line 3, column 'username'", "twice"]),
    ],
)
def test_a_bad_roster_row_is_named_and_nothing_is_imported(
    tmp_path: Path, gradebook: dict[str, str], rows: str, words: list[str],
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "s0,Existing,,student\n")
    assert nngrade("roster", "import", str(roster), cwd=tmp_path, env=gradebook).returncode == 0
    roster.write_text(HEADER + rows)
    one_line_error(nngrade("roster", "import", str(roster), cwd=tmp_path, env=gradebook), *words)
    assert accounts(tmp_path) == [("s0", "Existing", None)]


def test_bytes_that_are_no_known_encoding_are_reported(tmp_path: Path, gradebook: dict[str, str]) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(HEADER.encode() + b"s1,Ana,,student\ns2,B\x81a,,student\n")
    one_line_error(nngrade("roster", "import", str(roster), cwd=tmp_path, env=gradebook),
                   "line 3", "0x81", "neither UTF-8 nor Windows-1252")
    assert not (tmp_path / "g.sqlite3").exists()
