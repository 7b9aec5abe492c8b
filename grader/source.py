"""What counts as a valid models.py: the one definition the portal, `nngrade grade` and the worker share.

A file is accepted when the sandbox's Python would import it: UTF-8 with or without a byte-order mark, any
line endings, or another encoding declared on line 1 or 2 (PEP 263); syntax valid for Python 3.9 (the
sandbox's grammar); at most `max_bytes` long. Everything else gets a `SourceProblem`: one sentence for the
student that names the line and the fix. Nothing here runs the code, and no input makes it raise.

Standard library only, valid on Python 3.9: it may run inside the sandbox.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize
import warnings
from dataclasses import dataclass, field

from grader.messages import N_, Message, message

MAX_SOURCE_BYTES = 256 * 1024
SANDBOX_PYTHON = (3, 9)
# Deeper expressions than this are refused on every Python alike, far above anything written by hand and
# far below where 3.9's compiler or ours runs out of stack: the verdict must not depend on the host.
MAX_NESTING = 300
NAME = "models.py"

_UTF8_FIX = N_("Save models.py as UTF-8 in your editor (for example \"Save with encoding\" → UTF-8), or "
              "declare its encoding on the first line, for example: # -*- coding: latin-1 -*-.")


@dataclass(frozen=True)
class SourceProblem:
    """Why a file is refused: `message` is one sentence for the student (English), `line` is 1-based (None if
    unknown), `localizable` the same sentences as translatable templates and values."""

    message: str
    line: int | None = None
    localizable: tuple[Message, ...] = field(default=(), compare=False)


def _problem(line: int | None, *sentences: Message) -> SourceProblem:
    return SourceProblem(" ".join(m.text for m in sentences), line, sentences)


@dataclass(frozen=True)
class Source:
    """An accepted file: its text (newlines normalised to \\n) and the encoding it was read with."""

    text: str
    encoding: str


def size_in_units(size_bytes: int) -> dict[str, float | str]:
    """A size as people read it, for a message's {limit:g} {unit}: 262144 -> 256 KB, 200000 -> 195.3 KB
    (1 KB = 1024 bytes, as file managers count), 5 MB; under 1 KB in bytes."""
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if size_bytes >= scale:
            return {"limit": round(size_bytes / scale, 1), "unit": unit}
    return {"limit": size_bytes, "unit": "bytes"}


def check_source(data: bytes, max_bytes: int = MAX_SOURCE_BYTES) -> Source | SourceProblem:
    """Decide whether `data` (a whole models.py, in bytes) is a submission the sandbox can import.

    `max_bytes` caps the file size in bytes. Returns `Source` when accepted, `SourceProblem` otherwise;
    never raises, whatever the bytes.
    """
    if not data.strip():
        return _problem(None, message(N_("The file is empty. Choose your models.py and upload it again.")))
    if len(data) > max_bytes:
        # The caller may have read only max_bytes + 1 of a larger file: its real size is unknown, the limit is not.
        return _problem(None, message(N_("The file is larger than the limit of {limit:g} {unit}. Remove large data or "
                                         "printed output from models.py."), **size_in_units(max_bytes)))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _problem(1, message(N_("The file is saved as UTF-16 (Windows \"Unicode\").")), message(_UTF8_FIX))
    if b"\x00" in data:
        line = _line_of(data, data.index(b"\x00"))
        return _problem(line, message(N_("Line {line} contains a NUL byte, so this is not a text file. Upload the "
                                         "models.py source file itself."), line=line))
    decoded = _decode(data)
    if isinstance(decoded, SourceProblem):
        return decoded
    text, encoding = decoded
    # The importer reads files with universal newlines; so do we, so CRLF and CR files parse the same.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    problem = _syntax_problem(text)
    if problem is not None:
        return problem
    return Source(text=text, encoding=encoding)


def _decode(data: bytes) -> tuple[str, str] | SourceProblem:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if exc.msg.startswith("invalid or missing encoding declaration"):
            # Line 1 or 2 is not UTF-8 and no coding line says otherwise: the decoding below names the byte.
            encoding = "utf-8"
        else:
            # A coding line naming an unknown codec, or one that contradicts a UTF-8 byte-order mark.
            line = exc.lineno or _cookie_line(data)
            return _problem(line, message(N_("Line {line}: {error}. Fix or remove the coding line; UTF-8 needs "
                                             "none."), line=line, error=exc.msg))
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        start = getattr(exc, "start", 0)
        line = _line_of(data, start)
        byte = data[start:start + 1].hex() if isinstance(exc, UnicodeDecodeError) else ""
        declared = "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
        invalid = (message(N_("Line {line} is not valid {encoding} text (byte 0x{byte})."), line=line,
                           encoding=declared, byte=byte) if byte else
                   message(N_("Line {line} is not valid {encoding} text."), line=line, encoding=declared))
        return _problem(line, invalid, message(_UTF8_FIX))
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, encoding


def _syntax_problem(text: str) -> SourceProblem | None:
    try:
        with warnings.catch_warnings():
            # A student's "\d" in a normal string is their business, not a reason to refuse.
            warnings.simplefilter("ignore")
            tree = ast.parse(text, NAME, feature_version=SANDBOX_PYTHON)
            deep = _too_deep(tree)
            if deep is not None:
                return deep
            # The compiler finds what the parser does not: `return` outside a function, duplicate arguments.
            compile(tree, NAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return _syntax_error(exc)
    except (RecursionError, MemoryError):
        line = _busiest_line(text)
        return _problem(line, message(N_("Line {line} nests an expression too deeply for Python to compile. "
                                         "Split it into several statements or use a loop."), line=line))
    except ValueError as exc:  # defensive: compile's other refusal of odd input
        return _problem(None, message(N_("The file cannot be read as Python: {error}."), error=str(exc)))
    return None


def _syntax_error(exc: SyntaxError) -> SourceProblem:
    line = exc.lineno
    shown = (exc.text or "").strip()
    if len(shown) > 120:
        shown = shown[:117] + "..."
    # Python's own words for the error stay as Python says them; the sentence around them is ours.
    msg = exc.msg
    if line and shown:
        what = message(N_("Syntax error on line {line}: {error}: {code}."), line=line, error=msg, code=shown)
    elif line:
        what = message(N_("Syntax error on line {line}: {error}."), line=line, error=msg)
    else:
        what = message(N_("Syntax error: {error}."), error=msg)
    fix = message(N_("Fix it and upload again; running `python models.py` on your machine shows the same error."))
    if "too many nested parentheses" in msg:
        fix = message(N_("Split the expression into several statements."))
    elif "only supported in Python" in msg:
        fix = message(N_("The grader runs Python 3.9; rewrite this line without the newer syntax."))
    return _problem(line, what, fix)


def _too_deep(tree: ast.AST) -> SourceProblem | None:
    """The first expression or statement nested deeper than MAX_NESTING, walked without recursion."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (ast.expr, ast.stmt)):
            depth += 1
            if depth > MAX_NESTING:
                line = getattr(node, "lineno", None)
                deep = (message(N_("Line {line} nests expressions more than {levels} levels deep. Split it into "
                                   "several statements or use a loop."), line=line, levels=MAX_NESTING) if line
                        else message(N_("The file nests expressions more than {levels} levels deep. Split it "
                                        "into several statements or use a loop."), levels=MAX_NESTING))
                return _problem(line, deep)
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return None


def _busiest_line(text: str) -> int:
    """The line with the most operators and brackets: where a too-deep expression almost surely is."""
    counts: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP:
                counts[token.start[0]] = counts.get(token.start[0], 0) + 1
    except (tokenize.TokenError, SyntaxError, RecursionError, MemoryError):
        pass
    if counts:
        return max(counts, key=lambda n: (counts[n], -n))
    lines = text.split("\n")
    return max(range(len(lines)), key=lambda i: (len(lines[i]), -i)) + 1


def _line_of(data: bytes, offset: int) -> int:
    """1-based line of a byte offset, counting any of \\n, \\r\\n and \\r as a line end."""
    head = data[:offset].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return head.count(b"\n") + 1


def _cookie_line(data: bytes) -> int:
    first = data.splitlines()[:2]
    return 2 if len(first) == 2 and b"coding" in first[1] and b"coding" not in first[0] else 1

