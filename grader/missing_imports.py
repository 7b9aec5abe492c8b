"""Placeholders for modules models.py imports at its top level but that are not installed here.

Editors add imports students never use (`import click`; `from turtle import forward`, where turtle needs
Tk). While models.py runs its top-level code, such an import statement binds a placeholder instead of
failing, and the placeholder raises a clear `ModuleNotFoundError` the moment student code uses it. The
attempt reports each one as a warning the student sees.

What stays as it was: nothing enters `sys.modules`, so no other import ever sees a placeholder; imports
inside functions or classes, imports inside a `try` (the student handles the failure), relative imports,
and modules that exist but fail for another reason (or lack a submodule) raise as before.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from grader.messages import N_

# Statements whose bodies run as part of the module's own top-level code.
_BLOCKS = (ast.If, ast.For, ast.While, ast.With)


@dataclass
class MissingImport:
    """One import statement that got a placeholder."""

    line: int
    module: str  # as the statement names it
    missing: str  # the module that could not be found: the same one, or one it needs
    used: bool = False

    def needs(self) -> str:
        """" (it needs `tkinter`)" when what is missing is not the module or its package, else ""."""
        if (self.module + ".").startswith(self.missing + "."):
            return ""
        return f" (it needs `{self.missing}`)"

    def warning(self) -> str:
        needs = bool(self.needs())
        template = WARNING_TEMPLATES[(needs, self.used)]
        return template.format(line=self.line, module=self.module, missing=self.missing)


# The warnings' wording, (needs another module, used) -> template: the host reads them back into templates
# with values (grader.messages.match_message) to show them in the reader's language.
WARNING_TEMPLATES: dict[tuple[bool, bool], str] = {
    (False, False): N_("line {line} imports `{module}`, which is not available here; unused, so ignored"),
    (True, False): N_("line {line} imports `{module}`, which is not available here (it needs `{missing}`); "
                      "unused, so ignored"),
    (False, True): N_("line {line} imports `{module}`, which is not available here; your code used it, which "
                      "raised an error"),
    (True, True): N_("line {line} imports `{module}`, which is not available here (it needs `{missing}`); your "
                     "code used it, which raised an error"),
}


@dataclass
class MissingImports:
    """The placeholders bound while models.py ran, in the order they were bound."""

    found: list[MissingImport] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [item.warning() for item in self.found]


class Placeholder:
    """Stands for a missing module, or a name imported from one; any use raises ModuleNotFoundError."""

    def __init__(self, record: MissingImport, name: str) -> None:
        object.__setattr__(self, "_nngrade_record", record)
        object.__setattr__(self, "_nngrade_name", name)

    def _nngrade_use(self) -> NoReturn:
        record: MissingImport = object.__getattribute__(self, "_nngrade_record")
        name: str = object.__getattribute__(self, "_nngrade_name")
        record.used = True
        needs = record.needs()
        raise ModuleNotFoundError(
            f"`{record.module}` is not available in the grader{needs}: models.py line {record.line} imports it "
            f"and your code uses `{name}`; remove the import and every use of it",
            name=record.missing,
        )

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # introspection and the import system, not student use
        self._nngrade_use()

    def __setattr__(self, attribute: str, value: Any) -> None:
        self._nngrade_use()

    def __delattr__(self, attribute: str) -> None:
        self._nngrade_use()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._nngrade_use()

    def __getitem__(self, key: Any) -> Any:
        self._nngrade_use()

    def __setitem__(self, key: Any, value: Any) -> None:
        self._nngrade_use()

    def __iter__(self) -> Iterator[Any]:
        self._nngrade_use()

    def __len__(self) -> int:
        self._nngrade_use()

    def __contains__(self, item: Any) -> bool:
        self._nngrade_use()

    def __repr__(self) -> str:
        name: str = object.__getattribute__(self, "_nngrade_name")
        return f"<placeholder for {name}: not available in the grader>"


def top_level_import_lines(source: bytes) -> frozenset[int]:
    """Lines of the import statements that run as models.py's own top-level code, outside any `try`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()  # the import itself reports the problem
    lines: set[int] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        elif isinstance(node, _BLOCKS):
            pending.extend(node.body)
            pending.extend(node.orelse if not isinstance(node, ast.With) else ())
    return frozenset(lines)


@contextlib.contextmanager
def placeholders_for_missing_imports(models_path: Path, record: MissingImports) -> Iterator[MissingImports]:
    """While the block runs (importing models.py), top-level imports of missing modules bind placeholders."""
    lines = top_level_import_lines(models_path.read_bytes())
    target = os.path.realpath(models_path)
    original = builtins.__import__

    def guarded_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> Any:
        try:
            return original(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as exc:
            frame = sys._getframe(1)
            code = frame.f_code
            if (
                level != 0
                or code.co_name != "<module>"
                or frame.f_lineno not in lines
                or os.path.realpath(code.co_filename) != target
                or not _missing_is_not_a_submodule(name, exc.name)
            ):
                raise
            return _bind(record, name, fromlist, frame.f_lineno, exc.name or name)

    builtins.__import__ = guarded_import
    try:
        yield record
    finally:
        builtins.__import__ = original


def _missing_is_not_a_submodule(requested: str, missing: str | None) -> bool:
    """True when the package itself is missing, or something it needs; False for `pkg.missing_sub`."""
    if missing is None:
        return False
    top = requested.partition(".")[0]
    return missing == top or not (missing + ".").startswith(top + ".")


def _bind(record: MissingImports, name: str, fromlist: Sequence[str] | None, line: int, missing: str) -> Placeholder:
    """What `__import__` would have returned: the top-level package, with the names the statement reads."""
    item = MissingImport(line=line, module=name, missing=missing)
    record.found.append(item)
    parts = name.split(".")
    top = Placeholder(item, parts[0])
    # `import a.b.c` (and `import a.b.c as x`) reads a.b and a.b.c, `from a import x` reads a.x (or
    # a.b.x): real attributes, so the import statement itself does not count as a use.
    node = top
    for depth in range(1, len(parts)):
        child = Placeholder(item, ".".join(parts[: depth + 1]))
        object.__setattr__(node, parts[depth], child)
        node = child
    for attribute in fromlist or ():
        if attribute != "*":
            object.__setattr__(node, attribute, Placeholder(item, f"{name}.{attribute}"))
    return node if fromlist else top
