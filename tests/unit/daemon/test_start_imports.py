"""What the daemon imports on its way to READY=1: none of the heavy research libraries, so a
restart after a crash is not paid in imports (``benchmarks/recovery.py`` times it; this guards
it without timing anything). Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

from algotrading.cli import OWN_COMMANDS, build_parser
from algotrading.state.store import StateStore

#: Imported by the functions that need them, never on the way to a running paper daemon.
LAZY = ("pandas", "pyarrow", "numpy", "websockets", "scipy", "sklearn", "lightgbm", "torch")


def imported_after(code: str, modules: tuple[str, ...] = LAZY) -> list[str]:
    report = f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    check = f"{code}\nimport json, sys\n{report}"
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120
    )
    names: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return names


def test_the_daemon_module_imports_none_of_the_heavy_libraries():
    assert imported_after("import algotrading.daemon.app") == []


def test_a_run_command_line_is_parsed_and_its_state_store_opened_without_pandas(tmp_path):
    code = (
        "from algotrading.cli import build_parser, _command\n"
        "argv = ['run', '--state-dir', 'x']\n"
        "build_parser(_command(argv)).parse_args(argv)\n"
        "from algotrading.config import load_config\n"
        "load_config()\n"
        "from algotrading.state.store import StateStore\n"
        f"StateStore.open({str(tmp_path / 'state.sqlite')!r}).close()\n"
        "import algotrading.daemon.app"
    )
    # numpy is allowed here: the configuration's check builds the feature set (numpy arrays)
    assert [m for m in imported_after(code) if m != "numpy"] == []


def test_a_state_store_already_up_to_date_is_opened_without_sqlite_utils(tmp_path):
    path = tmp_path / "state.sqlite"
    StateStore.open(path).close()  # created (and its tables made) here, with sqlite-utils
    code = (
        "from algotrading.state.store import StateStore\n"
        f"store = StateStore.open({str(path)!r})\n"
        "store.model_registry().close()\n"
        "store.close()"
    )
    # sqlite-utils (and click, which it imports) only to create or migrate tables
    assert imported_after(code, ("sqlite_utils", "click")) == []


def test_the_parser_of_a_command_of_its_own_is_the_whole_parsers():
    whole = build_parser()
    argv = ["run", "--config", "conf", "--state-dir", "s", "--duration", "5", "--speed", "60"]
    for command in sorted(OWN_COMMANDS):
        assert build_parser(command).format_usage() == whole.format_usage()
    assert vars(build_parser("run").parse_args(argv)) == vars(whole.parse_args(argv))
    subparsers = next(a for a in whole._actions if a.dest == "command")
    own = next(a for a in build_parser("run")._actions if a.dest == "command")
    for command in OWN_COMMANDS:
        assert own.choices[command].format_help() == subparsers.choices[command].format_help()
