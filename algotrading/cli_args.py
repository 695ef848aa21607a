"""What each command-line value may be, checked while argv is parsed.

Every ``type=`` here raises :class:`argparse.ArgumentTypeError`; :class:`OneLineParser` turns
that (and every other argparse refusal) into one line naming the flag, ``algotrading <command>:
error: argument --speed: ...``, and exit status 2. NaN, infinities, negative or zero numbers
where they mean nothing, and values too large to be meant are refused here, before any command
runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

#: Larger than any duration, interval or speed anyone means (about 31 years in seconds); past it
#: a number is a typo, and nanosecond arithmetic on it would overflow.
MAX_NUMBER = 1e9
MAX_INT = 1_000_000_000


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line (``prog: error: ...``) and exit 2; the
    usage stays in ``--help``. Subcommands' parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if abs(value) > MAX_NUMBER:
        raise argparse.ArgumentTypeError(f"{text!r} is too large (at most {MAX_NUMBER:g})")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a speed, a duration, a timeout)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (days to keep, hours of history)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value + 0.0  # -0.0 is 0


def seconds_ns(text: str) -> int:
    """A number of seconds > 0, as whole nanoseconds (at least one)."""
    value = positive_float(text)
    ns = round(value * 1e9)
    if ns <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is less than a nanosecond")
    return ns


def _integer(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} is too large (at most {MAX_INT})")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (a count of workers, trials, folds, snapshots)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (a seed)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535, got {text!r}")
    return value


def utc_time(text: str) -> str:
    """An ISO-8601 time (naive is UTC), checked here and kept as given for messages."""
    from algotrading.timestamps import parse_utc

    try:
        parse_utc(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time, e.g. 2024-03-01T00:00:00Z, got {text!r}"
        ) from None
    return text


def non_empty(text: str) -> str:
    """A name, path or id that is not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty one")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"a NUL character in {text!r}")
    return text


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` with a key and a value; a NaN or infinite number is refused."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. fast=10, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        return key, value
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{key}: expected a finite number, got {value!r}")
    return key, value


class UniqueKeys(argparse.Action):
    """A repeatable ``KEY=VALUE`` flag collected into a dict; a key given twice is refused."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, tuple)
        key, value = values
        pairs = dict(getattr(namespace, self.dest, None) or {})
        if key in pairs:
            raise argparse.ArgumentError(self, f"{key} given twice ({pairs[key]} and {value})")
        pairs[key] = value
        setattr(namespace, self.dest, pairs)


def walk(parser: argparse.ArgumentParser) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every (sub)command's parser, by the words that name it: ``("data", "convert")``."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def visit(words: tuple[str, ...], p: argparse.ArgumentParser) -> None:
        found[words] = p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    visit((*words, name), child)

    visit((), parser)
    return found


def output_dir(flag: str, text: str) -> Path:
    """The directory ``flag`` names, made if missing; a path that is a file, or that cannot be
    made (a read-only or missing parent, no permission), is refused naming the flag."""
    from algotrading.errors import ConfigError

    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(flag, text, "exists and is not a directory") from None
    except OSError as exc:
        raise ConfigError(flag, text, f"cannot make the directory: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(flag, text, "the directory is not writable")
    return path


#: What every check above is: text in, the value out, ``ArgumentTypeError`` for bad text.
Check = Callable[[str], Any]
