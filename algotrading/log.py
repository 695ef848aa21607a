"""structlog set-up: JSON lines when the output is not a terminal (systemd, files, tests) and
readable coloured lines on a terminal. Every event carries the name of the actor that logged it
(``actor``), ``daemon`` or ``cli`` outside actors, and secrets are masked whatever their key —
and, once :func:`add_secrets` has been given their values, wherever those values appear: in any
field, nested in dicts and lists, in an exception's text or traceback."""

from __future__ import annotations

import logging
import re
import sys
import urllib.parse
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEY = re.compile(r"token|secret|password|webhook|authorization|api_key", re.I)
MIN_SECRET_CHARS = 8  # shorter values would mask ordinary words and numbers
_secrets: list[str] = []  # the configured secret values, longest first


def secret_forms(value: str) -> list[str]:
    """``value`` and the parts of it that are secret alone: a URL's host and path, its path,
    and its last path segment (a Slack webhook's path is its secret; servers echo paths)."""
    value = value.strip()
    forms = [value]
    url = urllib.parse.urlsplit(value)
    if url.scheme and url.netloc and len(url.path) > 1:
        forms += [url.netloc + url.path, url.path, url.path.rstrip("/").rsplit("/", 1)[-1]]
    return [f for f in forms if len(f) >= MIN_SECRET_CHARS]


def add_secrets(values: Iterable[str]) -> None:
    """Mask these values (and :func:`secret_forms` of them) in every log line from now on."""
    found = {form for value in values if value for form in secret_forms(value)}
    _secrets[:] = sorted(found | set(_secrets), key=len, reverse=True)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _scrubbed(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 16:
        return value
    if isinstance(value, dict):
        return {k: _scrubbed(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrubbed(v, depth + 1) for v in value)
    if isinstance(value, BaseException):
        text = f"{type(value).__name__}: {value}"
        return scrub(text) if any(s in text for s in _secrets) else value
    return value


def _scrub_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _secrets:
        for key, value in event.items():
            event[key] = _scrubbed(value)
    return event


def _default_actor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("actor", "daemon")
    return event


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if _SECRET_KEY.search(key) and event[key]:
            event[key] = "***"
    return event


class _Stderr:
    """``sys.stderr`` as it is when a line is written, not when logging was configured (a
    stream swapped since — a test's capture, a redirect — is not written to once closed)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog once for the process. ``fmt``: auto | json | console."""
    out: Any = stream if stream is not None else _Stderr()
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _default_actor,
            _redact,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _scrub_secrets,  # after the traceback is text: it is scrubbed too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(actor: str | None = None) -> Any:
    logger = structlog.get_logger()
    return logger.bind(actor=actor) if actor else logger
