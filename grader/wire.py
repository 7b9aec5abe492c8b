"""The harness protocol, declared once: every message between host and harness, its fields and their types.

The host sends one `job` on the harness's stdin; the harness answers on stdout with JSON lines: one `hello`,
any number of `progress`, one `result`. Each message carries ``"type"`` (its kind) and ``"version"``
(`PROTOCOL_VERSION`); `validate` checks one message against its declaration, on both ends (the harness when
it parses the job, the host when it reads the stream).

The declarations use JSON Schema's words (type, enum, const, properties, required, additionalProperties,
items, minLength, maxLength, minimum, exclusiveMinimum), as grader/report.schema.json does, plus one of
ours: ``cases`` picks extra fields by the value of a tag field (a final result's ``status``, a progress
message's ``event``). The validator is small and standard-library only, since the harness runs it in the
sandbox next to student code. Values are checked again where they are used (grader.scoring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Bump on any change to a declaration below: host and harness must speak the same version, and a
# mismatch is a fault of ours (a stale sandbox image), never the student's.
PROTOCOL_VERSION = 1

# Which held-out images q2 predicts (grader.runs.Split).
SPLITS = ("test", "validation")
# How the harness counts CPU time: the container's cgroup, or the student's process (RLIMIT_CPU behind it).
CPU_CLOCKS = ("cgroup", "process")
# The stages the student's process reports as it passes them, in order (grader.attempt). "evaluated"
# carries the graded prediction, sent before the integrity check's copy is predicted.
REPORTED_STAGES = ("imported", "built", "sanity_passed", "trained", "evaluated")
LOSS_NODES = ("SquareLoss", "SoftmaxLoss")
# Why the harness ended the student's process, when it did.
TERMINATIONS = ("timeout", "cpu_limit", "output_limit", "protocol_violation")
TOKEN_CHARS = 32

Schema = Mapping[str, Any]


def _message(kind: str, required: list[str], properties: dict[str, Schema], **extra: Any) -> Schema:
    """An object schema for one message kind: ``type`` and ``version`` first, no undeclared fields."""
    return {
        "type": "object",
        "required": ["type", "version", *required],
        "properties": {"type": {"const": kind}, "version": {"const": PROTOCOL_VERSION}, **properties},
        "additionalProperties": False,
        **extra,
    }


def _record(types: str | list[str], **properties: Schema) -> Schema:
    """An object with exactly these fields, all required (or null, when `types` allows it)."""
    return {"type": types, "required": list(properties), "properties": properties, "additionalProperties": False}


_STRING: Schema = {"type": "string"}
_INTEGER: Schema = {"type": "integer"}
_NUMBER: Schema = {"type": "number"}
_BOOLEAN: Schema = {"type": "boolean"}
_TOKEN: Schema = {"type": "string", "minLength": TOKEN_CHARS, "maxLength": TOKEN_CHARS}

JOB = _message(
    "job",
    ["question", "seed", "split", "submission_dir", "data_dir", "scratch_dir", "wall_s", "memory_mb",
     "output_bytes"],
    {
        "question": _STRING,
        "seed": _INTEGER,
        "split": {"enum": list(SPLITS)},
        # Paths as the harness sees them.
        "submission_dir": _STRING,
        "data_dir": _STRING,
        "scratch_dir": _STRING,
        "wall_s": _NUMBER,
        "cpu_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "cpu_clock": {"enum": list(CPU_CLOCKS)},  # absent: "process"
        "memory_mb": _INTEGER,
        "output_bytes": _INTEGER,
        # Each public MNIST file's size in bytes, for the pre-check.
        "data_files": {"type": ["object", "null"], "additionalProperties": _INTEGER},
        # The integrity check's copy of the graded images (grader.challenge).
        "copy_file": {"type": ["string", "null"]},
    },
)

HELLO = _message(
    "hello",
    ["token"],
    {
        # Drawn after the fork: the student's process never holds it, so lines without it are forged.
        "token": _TOKEN,
        "question": _STRING,
        "seed": _INTEGER,
        # The student's process group, for the host to clean up if the harness itself is stopped.
        "child_pgid": {"type": "integer", "minimum": 2},
        # Where the student's code runs.
        "python": _STRING,
        "numpy": _STRING,
    },
)

PROGRESS = _message(
    "progress",
    ["token", "event"],
    {"token": _TOKEN, "event": {"enum": ["epoch", "validation_accuracy"]}},
    cases={"by": "event", "schemas": {
        "epoch": {"required": ["epoch"], "properties": {"epoch": _INTEGER}},
        "validation_accuracy": {"required": ["value"], "properties": {"value": _NUMBER}},
    }},
)

# The student's process's last word (grader.attempt), passed on as it came: open, since only the fields
# below are read; scoring checks the evaluation's values.
_FINAL: Schema = {
    "type": ["object", "null"],
    "required": ["status"],
    "properties": {"status": {"enum": ["ok", "error", "failed_check"]}},
    "cases": {"by": "status", "schemas": {
        "ok": {"required": ["evaluation"], "properties": {"evaluation": {"type": "object"}}},
        "error": {"required": ["error"], "properties": {"error": {
            "type": "object",
            "required": ["type", "message", "traceback"],
            "properties": {"type": _STRING, "message": _STRING, "traceback": _STRING},
        }}},
        "failed_check": {"required": ["message"], "properties": {"message": _STRING}},
    }},
}

RESULT = _message(
    "result",
    ["token", "question", "seed", "sanity_passed", "trained", "validation_accuracy", "warnings", "exit", "log",
     "rusage", "wall_s"],
    {
        "token": _TOKEN,
        "question": _STRING,
        "seed": _INTEGER,
        "final": _FINAL,
        # Without a final message, the graded prediction sent before the copy was predicted.
        "evaluated": {"type": ["object", "null"]},
        "sanity_passed": _BOOLEAN,
        "trained": _BOOLEAN,
        "stage": {"enum": [None, *REPORTED_STAGES]},
        "loss_node": {"enum": [None, *LOSS_NODES]},
        "epochs": {"type": ["integer", "null"]},
        "validation_accuracy": {"type": "array", "items": _NUMBER},
        "warnings": {"type": "array", "items": _STRING},
        "terminated": {"enum": [None, *TERMINATIONS]},
        "violation": {"type": ["string", "null"]},
        # Set when the grader failed before the student's code started: a fault of ours.
        "harness_fault": _record(["object", "null"], stage=_STRING, message=_STRING),
        "exit": _record("object", code={"type": ["integer", "null"]}, signal={"type": ["integer", "null"]}),
        "log": _record("object", excerpt=_STRING, bytes=_INTEGER),
        "rusage": _record("object", cpu_s=_NUMBER, peak_memory_mb=_NUMBER),
        "cpu_clock": {"enum": [*CPU_CLOCKS, "none"]},
        "wall_s": _NUMBER,
    },
)

MESSAGES: dict[str, Schema] = {"job": JOB, "hello": HELLO, "progress": PROGRESS, "result": RESULT}


class WireError(ValueError):
    """A message that does not match its declaration; the text names the field and what is wrong."""


class VersionMismatch(WireError):
    """A message of another protocol version: host and harness come from different checkouts (ours to fix)."""


def stamp(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The message of `kind` with `fields`: ``type`` and ``version`` first, as every message carries them."""
    return {"type": kind, "version": PROTOCOL_VERSION, **fields}


def validate(kind: str, message: Any) -> dict[str, Any]:
    """`message` when it is a well-formed message of `kind` (a key of `MESSAGES`), as a dict.

    Raises `VersionMismatch` for a message of `kind` from another protocol version, `WireError` for anything
    else that does not match the declaration, and KeyError for an unknown `kind` (a bug of the caller's).
    """
    schema = MESSAGES[kind]
    if not isinstance(message, dict):
        raise WireError(f"a {kind} message must be a JSON object")
    if message.get("type") != kind:
        raise WireError(f"expected a {kind} message, got type {_show(message.get('type'))}")
    if not _same(message.get("version"), PROTOCOL_VERSION):
        raise VersionMismatch(
            f"the {kind} message speaks protocol version {_show(message.get('version'))}; this side speaks "
            f"version {PROTOCOL_VERSION} (host and sandbox image come from different checkouts)"
        )
    problem = _check(schema, message, "")
    if problem is not None:
        raise WireError(problem)
    return message


_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "null": "null", "object": "an object", "array": "a list",
}


def _is(type_name: str, value: Any) -> bool:
    # JSON has one kind of number; Python's json gives int or float, and bool is an int to Python.
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "object": dict, "array": list}
    if type_name == "null":
        return value is None
    return isinstance(value, kinds[type_name])


def _check(schema: Schema, value: Any, path: str) -> str | None:
    """Why `value` (at `path`) does not match `schema`, or None."""
    where = f"field {path!r}" if path else "the message"
    if "const" in schema and not _same(value, schema["const"]):
        return f"{where} must be {_show(schema['const'])}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return f"{where} must be one of {', '.join(_show(option) for option in schema['enum'])}"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(name, value) for name in names):
            return f"{where} must be {' or '.join(_TYPE_NAMES[name] for name in names)}"
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        return f"{where} has the wrong length"
    if _is("number", value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{where} must be more than {schema['exclusiveMinimum']}"
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problem = _check(schema["items"], item, f"{path}[{index}]")
            if problem is not None:
                return problem
    if isinstance(value, dict):
        return _check_object(schema, value, path)
    return None


def _check_object(schema: Schema, value: dict[str, Any], path: str) -> str | None:
    required = list(schema.get("required", ()))
    properties = dict(schema.get("properties", {}))
    cases = schema.get("cases")
    if cases is not None:
        # The tag's own declaration (an enum) has refused unknown values below, before any case is needed.
        tag = value.get(cases["by"])
        case = cases["schemas"].get(tag, {}) if isinstance(tag, str) else {}
        required += case.get("required", [])
        properties.update(case.get("properties", {}))
    for name in required:
        if name not in value:
            return f"field {_join(path, name)!r} is missing"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if not isinstance(name, str):  # json never yields these; a caller's dict might
            return f"field {path!r} has a key that is not a string"
        if name in properties:
            problem = _check(properties[name], item, _join(path, name))
        elif extra is False:
            problem = f"field {_join(path, name)!r} is not part of the protocol"
        elif isinstance(extra, Mapping):
            problem = _check(extra, item, _join(path, name))
        else:
            problem = None
        if problem is not None:
            return problem
    return None


def _same(value: Any, option: Any) -> bool:
    # 1 == True in Python; in JSON they are different values.
    return type(value) is type(option) and value == option


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    return "null" if value is None else repr(value)[:40]
