"""systemd/algotrading.service: accepted by ``systemd-analyze verify`` without a warning about
it, and holding the settings the daemon relies on (notify, watchdog, restarts, hardening)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from algotrading.config import RuntimeConfig
from algotrading.ops.systemd import SystemdConfig

UNIT = Path(__file__).resolve().parents[3] / "systemd" / "algotrading.service"
INSTALLED = "/opt/algotrading/venv/bin/algotrading"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (apt-get install systemd) — cannot verify the unit",
)


def settings(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values, as systemd reads a unit (comments out, repeated keys kept)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, {})
            continue
        key, _, value = line.partition("=")
        sections[current].setdefault(key.strip(), []).append(value.strip())
    return sections


def with_real_executable(text: str) -> str:
    """The unit with ExecStart pointing at this environment's ``algotrading`` (verify checks
    that the binary exists), or at ``python -m algotrading`` when no script is installed."""
    script = Path(sys.executable).with_name("algotrading")
    found = str(script) if script.is_file() else shutil.which("algotrading")
    command = found or f"{sys.executable} -m algotrading"
    assert INSTALLED in text
    return text.replace(INSTALLED, command)


def verify(text: str, tmp_path: Path) -> tuple[int, list[str]]:
    """Exit status of ``systemd-analyze verify`` and the lines it printed about this unit."""
    path = tmp_path / "algotrading.service"
    path.write_text(text)
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )
    output = (result.stdout + result.stderr).splitlines()
    about_unit = [line for line in output if str(path) in line or "algotrading.service" in line]
    return result.returncode, about_unit


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_unit_without_warnings(tmp_path):
    status, warnings = verify(with_real_executable(UNIT.read_text()), tmp_path)
    assert warnings == []
    assert status == 0


@needs_systemd_analyze
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("ProtectClock=yes", "ProtectClok=yes"), "Unknown key"),
        (("RestartSec=5", "RestartSec=soon"), "Failed to parse"),
    ],
)
def test_the_verify_check_catches_a_broken_unit(tmp_path, change, expected):
    """The check above can fail: a typo or a bad value is a warning about the unit."""
    text = with_real_executable(UNIT.read_text()).replace(*change)
    _, warnings = verify(text, tmp_path)
    assert any(expected in line for line in warnings), warnings


@needs_systemd_analyze
def test_a_missing_executable_fails_verify(tmp_path):
    status, warnings = verify(UNIT.read_text().replace(INSTALLED, "/nonexistent/algo"), tmp_path)
    assert status != 0 or warnings


def test_the_unit_has_what_the_daemon_relies_on():
    unit = settings(UNIT.read_text())
    service, install = unit["Service"], unit["Install"]

    def one(key: str) -> str:
        assert len(service.get(key, [])) == 1, f"{key} set {len(service.get(key, []))} times"
        return service[key][0]

    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "RestartSec": "5",
        "ExecStart": f"{INSTALLED} run --config /etc/algotrading --state-dir /var/lib/algotrading",
        "EnvironmentFile": "/etc/algotrading/algotrading.env",
        "User": "algotrading",
        "Group": "algotrading",
        "StateDirectory": "algotrading",
        "KillSignal": "SIGTERM",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/algotrading",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
        "SystemCallArchitectures": "native",
    }
    for key, value in expected.items():
        assert one(key) == value, key
    for key in (
        "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectHome", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname", "RestrictNamespaces", "LockPersonality", "RestrictRealtime",
        "RestrictSUIDSGID",
    ):  # fmt: skip
        assert one(key) == "yes", key
    assert int(unit["Unit"]["StartLimitBurst"][0]) >= 1
    assert "multi-user.target" in install["WantedBy"]
    # the watchdog outlasts what counts as stuck, and the stop outlasts the drain
    watchdog_s = int(one("WatchdogSec"))
    assert watchdog_s >= 2 * SystemdConfig().watchdog_stuck_seconds
    assert int(one("TimeoutStopSec")) > 5 * RuntimeConfig().drain_timeout_seconds
    # left out on purpose (torch's oneDNN generates code): only a comment may name it
    assert "MemoryDenyWriteExecute" not in service
    assert re.search(r"^# MemoryDenyWriteExecute= is left out", UNIT.read_text(), re.M)
