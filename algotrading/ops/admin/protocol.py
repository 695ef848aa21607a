"""The admin socket's wire format: one JSON object per line each way (docs/operations/
admin-socket.md). Decoding is strict and never raises anything but :class:`AdminError`, so a
malformed line is always answered with an error, never a traceback."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

import msgspec

MAX_LINE_BYTES = 64 * 1024
MAX_DEPTH = 32  # arrays and objects inside one another; no command needs more than 3
MAX_INT = 2**63 - 1  # integers beyond a signed 64-bit range are no count, id or limit


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"  # not a request: bad JSON, not an object, wrong fields
    UNKNOWN_COMMAND = "unknown_command"
    BAD_ARGUMENT = "bad_argument"  # a known command with arguments it cannot take
    REFUSED = "refused"  # understood, and declined: peer, limits, state, restart needed
    INTERNAL = "internal"  # a bug in the daemon; logged with its traceback


class AdminError(Exception):
    """A request that is answered with an error: raised by decoding and by command handlers."""

    def __init__(self, code: ErrorCode, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id  # when a bad request still had a readable id


class Request(msgspec.Struct, forbid_unknown_fields=True):
    cmd: str
    id: Any = None  # any JSON value; echoed in the response
    args: dict[str, Any] = msgspec.field(default_factory=dict)


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class Response(msgspec.Struct, omit_defaults=True):
    id: Any  # no default: always written, null included
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None


_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_request(line: bytes) -> Request:
    """The request in one line (without its newline). Raises AdminError(bad_request) with what
    is wrong, and the id when the line had one."""
    try:
        data = _decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise AdminError(ErrorCode.BAD_REQUEST, f"not valid JSON: {exc}") from None
    except RecursionError:  # the decoder's own limit, near 1000 levels
        raise AdminError(ErrorCode.BAD_REQUEST, _TOO_DEEP) from None
    problem = _shape_problem(data)
    if problem is not None:
        raise AdminError(ErrorCode.BAD_REQUEST, problem)
    if not isinstance(data, dict):
        raise AdminError(
            ErrorCode.BAD_REQUEST,
            f'a request is a JSON object like {{"id": 1, "cmd": "status"}}, got {_json_type(data)}',
        )
    try:
        return msgspec.convert(data, Request, strict=True)
    except msgspec.ValidationError as exc:
        raise AdminError(ErrorCode.BAD_REQUEST, f"bad request: {exc}", data.get("id")) from None


A = TypeVar("A", bound=msgspec.Struct)


def decode_args(command: str, args: dict[str, Any], kind: type[A]) -> A:
    """A command's arguments as its Struct; AdminError(bad_argument) names what is wrong."""
    try:
        return msgspec.convert(args, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise AdminError(ErrorCode.BAD_ARGUMENT, f"{command}: {exc}") from None


def ok(request_id: Any, result: dict[str, Any]) -> bytes:
    return _encoder.encode(Response(id=request_id, ok=True, result=result)) + b"\n"


def error(request_id: Any, code: ErrorCode, message: str) -> bytes:
    body = ErrorBody(code=str(code), message=message)
    return _encoder.encode(Response(id=request_id, ok=False, error=body)) + b"\n"


def encode_request(cmd: str, args: dict[str, Any] | None = None, request_id: Any = 1) -> bytes:
    return _encoder.encode(Request(cmd=cmd, id=request_id, args=args or {})) + b"\n"


def decode_response(line: bytes) -> Response:
    """A response line, as a client reads it; msgspec errors pass through (a daemon bug)."""
    return msgspec.json.decode(line, type=Response)


_TOO_DEEP = f"not a request: arrays or objects nested more than {MAX_DEPTH} deep"


def _shape_problem(data: object) -> str | None:
    """What makes a decoded value no request whatever its fields: nesting deeper than
    :data:`MAX_DEPTH` or an integer out of the 64-bit range. Walked without recursion, so
    neither the walk nor anything after it (a handler, a log line, the answer) can overflow."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return _TOO_DEEP
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            return f"not a request: an integer beyond ±{MAX_INT} (64 bits)"
    return None


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
