"""Roster import: accounts from a CSV, with initial credentials written to a file for the instructor."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from gradebook.csvcells import SafeWriter
from gradebook.models import ROLES
from gradebook.users import UserError, create_user, get_user, new_password, username_problem

# Accepted spellings of each column (any case), in order of preference; Spanish headers are aliases.
USERNAME_COLUMNS = ("username", "student_id", "id", "login", "usuario")
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "username": USERNAME_COLUMNS,
    "name": ("name", "nombre"),
    "email": ("email", "correo"),
    "role": ("role", "rol"),
}


class RosterError(ValueError):
    """The roster file is malformed; the message names the line."""


@dataclass
class RosterResult:
    """What a roster import did, by username; `credentials` holds the initial passwords of new accounts."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    credentials: list[tuple[str, str]] = field(default_factory=list)  # (username, initial password)


def decode_roster(data: bytes) -> tuple[str, str]:
    """The roster's text and the encoding it was read in: UTF-8 (with or without a byte-order mark), else
    Windows-1252, which is what a Spanish Excel's "CSV (delimitado por comas)" writes (Latin-1's letters).

    Raises RosterError when the bytes are neither.
    """
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("cp1252"), "Windows-1252 (Latin-1)"
    except UnicodeDecodeError:
        line = data[:utf8_error.start].count(b"\n") + 1
        raise RosterError(
            f"line {line}: byte 0x{data[utf8_error.start]:02x} is neither UTF-8 nor Windows-1252 (Latin-1); "
            "save the roster as CSV UTF-8") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma, semicolon (a Spanish Excel's CSV) or tab separated, as the first lines show; comma when unclear."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:  # one column, or too little to tell
        return csv.excel


def parse_roster(text: str) -> list[dict[str, str]]:
    """Rows of username, name, email, role (or the Spanish usuario, nombre, correo, rol); `role` defaults to
    student. Separated by commas, semicolons or tabs.

    Raises RosterError naming the line and column of the first bad value.
    """
    reader = csv.DictReader(io.StringIO(text), dialect=_dialect(text))
    if reader.fieldnames is None:
        raise RosterError("the roster is empty; expected a header line such as: username,name,email,role")
    header = {c.strip().lower(): c for c in reader.fieldnames if c is not None}
    columns = {column: next((header[a] for a in aliases if a in header), "")
               for column, aliases in COLUMN_ALIASES.items()}
    key = columns["username"] or None
    if key is None:
        found = ", ".join(repr(c) for c in reader.fieldnames)
        raise RosterError(f"line 1: the roster needs a column named one of {', '.join(USERNAME_COLUMNS)}; "
                          f"its header has {found}")
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for raw in reader:
        line = reader.line_num
        username = (raw.get(key) or "").strip()
        if not username:
            raise RosterError(f"line {line}, column {key!r}: the username is empty")
        problem = username_problem(username)
        if problem:
            raise RosterError(f"line {line}, column {key!r}: {problem}")
        if username in seen:
            raise RosterError(f"line {line}, column {key!r}: {username!r} appears twice")
        seen.add(username)
        role_column = columns["role"]
        role = (raw.get(role_column, "") or "student").strip().lower() or "student"
        if role not in ROLES:
            raise RosterError(f"line {line}, column {role_column!r}: role must be one of {', '.join(ROLES)}, "
                              f"got {role!r}")
        rows.append({
            "username": username,
            "name": (raw.get(columns["name"], "") or username).strip(),
            "email": (raw.get(columns["email"], "") or "").strip(),
            "role": role,
        })
    return rows


def import_roster(session: Session, text: str) -> RosterResult:
    """Create missing accounts (with fresh passwords) and update names, emails and roles of existing ones."""
    result = RosterResult()
    for row in parse_roster(text):
        user = get_user(session, row["username"])
        if user is None:
            password = new_password()
            try:
                create_user(session, row["username"], row["name"], password, row["role"], row["email"] or None)
            except UserError as exc:
                raise RosterError(str(exc)) from None
            result.created.append(row["username"])
            result.credentials.append((row["username"], password))
            continue
        changes = {"name": row["name"], "email": row["email"] or None, "role": row["role"]}
        if any(getattr(user, k) != v for k, v in changes.items()):
            for k, v in changes.items():
                setattr(user, k, v)
            result.updated.append(row["username"])
        else:
            result.unchanged.append(row["username"])
    session.flush()
    return result


def write_credentials(path: Path, credentials: list[tuple[str, str]]) -> None:
    """Write username,password lines readable by the owner only; refuses to overwrite an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        writer = SafeWriter(f)
        writer.writerow(["username", "password"])
        writer.writerows(credentials)
