"""Every bad value of every flag gets one line naming the flag and exit status 2.

The cases are generated from the parser itself (``build_parser`` walked by
:func:`algotrading.cli_args.walk`), so a flag added later is covered: a flag that takes a value
must have a checked ``type=`` from :mod:`algotrading.cli_args` (or be listed in UNCHECKED with
where it is checked), and each such type has its bad values below. The parser's refusals run
in-process through ``cli.main``; a smaller set of bad files and paths, which reach the commands,
run as real processes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from algotrading import cli, cli_args

#: Bad text for each checked type; each must be refused.
BAD_VALUES: dict[Callable[[str], Any], tuple[str, ...]] = {
    cli_args.positive_float: ("nan", "inf", "-inf", "-1", "0", "-0", "1e400", "1e12", "", "x"),
    cli_args.non_negative_float: ("nan", "inf", "-1", "-1e-9", "1e400", "", "x", "1,5"),
    cli_args.seconds_ns: ("nan", "inf", "-1", "0", "1e-12", "1e300", "", "x"),
    cli_args.positive_int: ("0", "-1", "1.5", "nan", "inf", "99999999999", "", "x"),
    cli_args.non_negative_int: ("-1", "1.5", "nan", "99999999999", "", "x"),
    cli_args.port: ("-1", "65536", "70000", "1.5", "nan", "", "x"),
    cli_args.utc_time: ("", "garbage", "nan", "99999-01-01", "2024-13-01", "2024-02-30"),
    cli_args.non_empty: ("", "   ", "\t"),
    cli_args.key_value: ("fast", "=3", "fast=", "fast=nan", "fast=inf", "fast=-inf", ""),
}

#: Flags that take a value without a checked type, and where the value is checked instead.
UNCHECKED = {
    ("sweep", "--grid"): "algotrading.backtest.sweep.parse_grid",
    ("ctl", "ctl_command"): "algotrading.ops.ctl.run_ctl_command (one of the catalog)",
    ("ctl", "ctl_args"): "algotrading.ops.ctl.request_arguments",
}

#: A valid value for each required argument, so that only the flag under test is bad.
REQUIRED = {
    "--out": "out",
    "--grid": "fast=5",
    "--keep-days": "1",
    "--csv": "bars.csv",
    "session": "latest",
    "root": "store",
    "ctl_command": "status",
}


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    return {
        words: p
        for words, p in cli_args.walk(cli.build_parser()).items()
        if words and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    }


def value_actions(p: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in p._actions:
        if action.nargs == 0 or isinstance(action, argparse._HelpAction) or action.choices:
            continue
        yield action


def flag_name(action: argparse.Action) -> str:
    return action.option_strings[-1] if action.option_strings else action.dest


def base_argv(words: tuple[str, ...], p: argparse.ArgumentParser, skip: str) -> list[str]:
    """The command with valid values for its required arguments, but ``skip``."""
    argv = list(words)
    positionals = []
    for action in p._actions:
        name = flag_name(action)
        if name == skip or not (action.required or not action.option_strings):
            continue
        if isinstance(action, argparse._SubParsersAction) or action.nargs == "*":
            continue
        if action.option_strings:
            argv += [name, REQUIRED[name]]
        else:
            positionals.append(REQUIRED[name])
    return argv + positionals


def bad_cases() -> Iterator[tuple[list[str], str]]:
    for words, p in commands().items():
        for action in value_actions(p):
            name = flag_name(action)
            if action.type is None:
                continue  # test_every_flag_is_checked says which may be
            for bad in BAD_VALUES[action.type]:
                argv = base_argv(words, p, skip=name)
                if action.option_strings:
                    yield [*argv, f"{name}={bad}"], name
                elif action.nargs in (None, 1):  # a positional: the bad value in its place
                    yield [*argv, bad], "argument " + (action.metavar or name)
            if getattr(action, "type", None) is cli_args.key_value:
                argv = base_argv(words, p, skip=name)
                yield [*argv, name, "fast=1", name, "fast=2"], name  # a key given twice


CASES = list(bad_cases())


def test_the_generated_cases_are_hundreds_and_cover_every_command() -> None:
    assert len(CASES) >= 200
    covered = {argv[0] for argv, _ in CASES}
    assert {"run", "backtest", "sweep", "compact", "ctl", "sim-exchange", "data"} <= covered


def test_every_flag_that_takes_a_value_is_checked() -> None:
    unchecked = [
        (words[0], flag_name(a))
        for words, p in commands().items()
        for a in value_actions(p)
        if a.type not in BAD_VALUES
    ]
    assert sorted(set(unchecked) - set(UNCHECKED)) == []


@pytest.mark.parametrize(("argv", "flag"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_bad_value_is_one_line_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"algotrading {argv[0]}")
    assert flag in err


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    (d / "binary.csv").write_bytes(b"garbage\x00\x01\xff\xfe\n")
    (d / "empty.csv").write_text("")
    (d / "garbage.csv").write_text("a,b,c\n1,2\nx,y,z\n")
    header = "time,open,high,low,close,volume\n"
    (d / "nan.csv").write_text(
        header + "2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T01:00:00Z,nan,1,1,1,1\n"
    )
    (d / "dup.csv").write_text(header + "2024-01-01T00:00:00Z,1,1,1,1,1\n" * 2)
    (d / "good.csv").write_text(
        header + "".join(f"2024-01-01T0{h}:00:00Z,1,1.1,0.9,1,1\n" for h in range(3))
    )
    (d / "a_file").write_text("not a directory")
    (d / "a_dir").mkdir()
    return d


#: Bad files and paths, which the commands (not the parser) refuse: (argv, status, named).
PROCESS_CASES = [
    (["backup", "--out", "{d}/a_dir"], 2, "--out"),
    (["backup", "--state-dir", "{d}/missing", "--out", "{d}/x.sqlite"], 2, "no state database"),
    (["export", "--out", "{d}/out", "--state-dir", "{d}/missing"], 2, "no state database"),
    (["replay", "nope", "--out", "{d}/out", "--state-dir", "{d}/missing"], 2, "no state database"),
    (["compact", "--keep-days", "1", "--state-dir", "{d}/missing"], 2, "no state database"),
    (["sessions", "--state-dir", "{d}/a_file"], 2, "no state database"),
    (["ctl", "--socket", "{d}/missing.sock", "status"], 3, "no daemon listening"),
    (["ctl", "--socket", "{d}/a_file", "status"], 3, "no daemon listening"),
    (["ctl", "--socket", "{d}/a_file", "bogus"], 2, "unknown command"),
    (["data", "convert", "--csv", "{d}/binary.csv", "--out", "{d}/st"], 2, "binary.csv"),
    (["data", "convert", "--csv", "{d}/empty.csv", "--out", "{d}/st"], 2, "empty.csv"),
    (["data", "convert", "--csv", "{d}/garbage.csv", "--out", "{d}/st"], 2, "garbage.csv, row"),
    (["data", "convert", "--csv", "{d}/nan.csv", "--out", "{d}/st"], 2, "nan.csv, row 3"),
    (["data", "convert", "--csv", "{d}/dup.csv", "--out", "{d}/st"], 2, "dup.csv, row 3"),
    (["data", "convert", "--csv", "{d}/a_dir", "--out", "{d}/st"], 2, "a_dir"),
    (["data", "convert", "--csv", "{d}/good.csv", "--out", "{d}/a_file"], 2, "--out"),
    (["data", "list", "{d}/missing"], 2, "missing"),
    (
        ["backtest", "--out", "{d}/a_file", "--start", "2024-06-01", "--end", "2024-06-03"],
        2,
        "--out",
    ),
    (["backtest", "--out", "{d}/out", "--data", "{d}/a_dir"], 2, "a_dir"),
    (["backtest", "--out", "{d}/out", "--config", "{d}/a_file"], 2, "a_file"),
    (["sweep", "--out", "{d}/out", "--grid", "fast=inf,5", "--serial"], 2, "--grid"),
    (["sim-exchange", "--state-dir", "{d}/a_file", "--port", "0"], 2, "--state-dir"),
]


def test_bad_files_and_paths_in_real_processes(files: Path) -> None:
    """Started all at once (each is a fresh interpreter), then each checked."""
    runs = []
    for argv, status, named in PROCESS_CASES:
        args = [a.format(d=files) for a in argv]
        proc = subprocess.Popen(
            [sys.executable, "-m", "algotrading", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=files,
        )
        runs.append((args, status, named, proc))
    failures = []
    for args, status, named, proc in runs:
        _, err = proc.communicate(timeout=120)
        lines = err.strip().splitlines()
        if (
            proc.returncode != status
            or "Traceback" in err
            or len(lines) != 1
            or named not in lines[0]
        ):
            failures.append(f"{' '.join(args)} -> {proc.returncode}: {err.strip()[-400:]}")
    assert failures == []
