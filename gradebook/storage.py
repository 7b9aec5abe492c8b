"""Submission files stored by content in the database (SubmissionFile), written once, verified on read.

Uploads are at most a few hundred KiB, so the database holds them: a worker on another machine needs
only the database and the broker, no shared filesystem.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gradebook.models import SubmissionFile


class StoredFileError(OSError):
    """A stored upload is missing or does not match its digest: our fault, never the student's."""


def sha256_bytes(data: bytes) -> str:
    """The hex SHA-256 of `data`: the key a stored upload is kept and verified under."""
    return hashlib.sha256(data).hexdigest()


def store_bytes(session: Session, data: bytes) -> str:
    """Store `data` under its SHA-256 (a no-op when already stored) and return the digest."""
    digest = sha256_bytes(data)
    if session.get(SubmissionFile, digest) is not None:
        return digest
    try:
        with session.begin_nested():
            session.add(SubmissionFile(sha256=digest, size_bytes=len(data), content=data))
    except IntegrityError:
        pass  # the same bytes were stored concurrently: the digest says they are identical
    return digest


def read_verified(session: Session, sha256: str) -> bytes:
    """The stored bytes, checked against their digest; `StoredFileError` when missing or corrupted."""
    content = session.scalar(select(SubmissionFile.content).where(SubmissionFile.sha256 == sha256))
    if content is None:
        raise StoredFileError(f"stored submission {sha256} is missing")
    data = bytes(content)
    if sha256_bytes(data) != sha256:
        raise StoredFileError(f"stored submission {sha256} does not match its digest")
    return data
