"""A request body as JSON, or a clear reason why not — never an exception other than
:class:`BodyError`. Refused: bytes that are not UTF-8, text that is not JSON, ``NaN`` and
``Infinity`` and numbers too large for a float, duplicate keys in an object, strings with lone
surrogates (they could not be stored), and nesting deeper than ``MAX_DEPTH`` (Python's own
parser would raise ``RecursionError`` on thousands of ``[``). The size is bounded before this,
by the application's ``client_max_size`` (413).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
MALFORMED = "The request was missing required data"  # v20's answer to a body it cannot read


class BodyError(ValueError):
    """A body that is not the JSON a v20 request carries (answered with a 400)."""


def decode_body(raw: bytes) -> Any:
    """``raw`` as JSON (``{}`` when empty); :class:`BodyError` when it is not usable JSON."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(f"{MALFORMED}: the body is not UTF-8") from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise BodyError(f"{MALFORMED}: the body is nested too deeply") from None
    except BodyError:
        raise
    except ValueError:
        raise BodyError(f"{MALFORMED}: the body is not valid JSON") from None
    _check_value(value, 0)
    return value


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"{MALFORMED}: {name} is not a number v20 accepts")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BodyError(f"{MALFORMED}: the number {text[:40]} is out of range")
    return number


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise BodyError(f"{MALFORMED}: duplicate keys {', '.join(map(repr, twice))[:200]}")
    return out


def _check_value(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BodyError(f"{MALFORMED}: the body is nested more than {MAX_DEPTH} deep")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(f"{MALFORMED}: a string holds a lone surrogate") from None
