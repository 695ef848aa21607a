"""The command line's value checks: good text in, the value out; bad text refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from algotrading import cli_args
from algotrading.errors import ConfigError


@pytest.mark.parametrize(
    ("fn", "text", "value"),
    [
        (cli_args.positive_float, "2.5", 2.5),
        (cli_args.positive_float, "1e-3", 0.001),
        (cli_args.non_negative_float, "0", 0.0),
        (cli_args.non_negative_float, "-0", 0.0),
        (cli_args.seconds_ns, "60", 60_000_000_000),
        (cli_args.seconds_ns, "0.5", 500_000_000),
        (cli_args.positive_int, " 4 ", 4),
        (cli_args.non_negative_int, "0", 0),
        (cli_args.port, "0", 0),
        (cli_args.port, "65535", 65535),
        (cli_args.utc_time, "2024-03-01", "2024-03-01"),
        (cli_args.utc_time, "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        (cli_args.non_empty, "state", "state"),
        (cli_args.key_value, " fast = 10 ", ("fast", "10")),
        (cli_args.key_value, "sides=long", ("sides", "long")),
    ],
)
def test_good_values_pass(fn: cli_args.Check, text: str, value: object) -> None:
    assert fn(text) == value


@pytest.mark.parametrize(
    ("fn", "text", "says"),
    [
        (cli_args.positive_float, "nan", "finite"),
        (cli_args.positive_float, "inf", "finite"),
        (cli_args.positive_float, "0", "> 0"),
        (cli_args.positive_float, "-2", "> 0"),
        (cli_args.positive_float, "1e12", "too large"),
        (cli_args.positive_float, "ten", "expected a number"),
        (cli_args.non_negative_float, "-1", ">= 0"),
        (cli_args.seconds_ns, "1e-12", "nanosecond"),
        (cli_args.positive_int, "0", ">= 1"),
        (cli_args.positive_int, "2.5", "whole number"),
        (cli_args.positive_int, "99999999999", "too large"),
        (cli_args.non_negative_int, "-1", ">= 0"),
        (cli_args.port, "65536", "0..65535"),
        (cli_args.utc_time, "yesterday", "ISO-8601"),
        (cli_args.utc_time, "", "ISO-8601"),
        (cli_args.non_empty, "  ", "empty"),
        (cli_args.key_value, "fast", "KEY=VALUE"),
        (cli_args.key_value, "fast=", "KEY=VALUE"),
        (cli_args.key_value, "fast=nan", "finite"),
    ],
)
def test_bad_values_are_refused(fn: cli_args.Check, text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        fn(text)


def parser() -> argparse.ArgumentParser:
    p = cli_args.OneLineParser(prog="algotrading x")
    p.add_argument("--param", type=cli_args.key_value, action=cli_args.UniqueKeys, default={})
    p.add_argument("--speed", type=cli_args.positive_float)
    return p


def test_unique_keys_collects_a_dict_and_refuses_a_key_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parser().parse_args(["--param", "a=1", "--param", "b=2"]).param == {"a": "1", "b": "2"}
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--param", "a=1", "--param", "a=2"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "algotrading x: error: argument --param: a given twice (1 and 2)\n"
    )


def test_a_refusal_is_one_line_without_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["--speed", "nan"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "algotrading x: error: argument --speed: expected a finite number, got 'nan'\n"


def test_output_dir_is_made_or_refused_naming_the_flag(tmp_path: Path) -> None:
    assert cli_args.output_dir("--out", str(tmp_path / "a" / "b")).is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--out: .*file: exists and is not a directory"):
        cli_args.output_dir("--out", str(tmp_path / "file"))
    with pytest.raises(ConfigError, match=r"--out: .*cannot make the directory"):
        cli_args.output_dir("--out", str(tmp_path / "file" / "sub"))


def test_walk_finds_nested_commands() -> None:
    from algotrading.cli import build_parser

    found = cli_args.walk(build_parser())
    assert ("data", "convert") in found
    assert ("backtest",) in found
