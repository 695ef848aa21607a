"""How the sim-exchange server is set up: the project's config (instruments, feed, venue costs),
the server's own options, and its accounts — one practice account by default, or those listed
in ``sim_exchange.yaml`` beside the other config files::

    accounts:                      # each its own engine; ids default to 101-001-0000001-00N
      - {id: 101-001-0000001-001, alias: primary, currency: USD, balance: 100000}
      - {alias: second, balance: 5000}
    heartbeat_seconds: 5.0         # both streams
    history_hours: 0               # first hours of data loaded at once as candle history
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec

from algotrading.adapters.oanda.wire import HEARTBEAT_SECONDS, MAX_PRICES_PER_SECOND
from algotrading.bounded import OffAmount, Seconds
from algotrading.config import Config, load_yaml_file
from algotrading.errors import ConfigError
from algotrading.sim.server import DEFAULT_TOKEN, TOKEN_ENV

SERVER_FILE = "sim_exchange.yaml"
DEFAULT_USER = 1


class AccountSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str = ""  # "" = 101-001-0000001-00N, N its place in the list
    alias: str = ""
    currency: str = ""  # "" = system.yaml account.currency
    balance: OffAmount = 0.0  # 0 = system.yaml account.initial_cash


class ServerFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    accounts: list[AccountSettings] = msgspec.field(default_factory=list)
    heartbeat_seconds: Seconds = HEARTBEAT_SECONDS
    history_hours: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 0.0  # 0 = none


@dataclass(frozen=True)
class ServerSettings:
    config: Config
    state_dir: Path
    token: str = DEFAULT_TOKEN
    data_files: tuple[Path, ...] = ()  # CSV bars; none: the config's feed (synthetic default)
    speed: float | None = None  # None: feed.speed of system.yaml
    accounts: tuple[AccountSettings, ...] = ()
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    price_window_seconds: float = 1.0 / MAX_PRICES_PER_SECOND
    snapshot_seconds: float = 5.0  # engine snapshots between fills (marks, trailing stops)
    history_seconds: float = 0.0


def token_from_env() -> str:
    return os.environ.get(TOKEN_ENV, "") or DEFAULT_TOKEN


def default_account_id(position: int) -> str:
    return f"101-001-{DEFAULT_USER:07d}-{position + 1:03d}"


def user_id_of(account_id: str) -> int:
    """The user part of ``site-division-user-account`` ids (1 when it is not a number)."""
    parts = account_id.split("-")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else DEFAULT_USER


def load_server_file(config_dir: str | Path | None) -> ServerFile:
    """``sim_exchange.yaml`` of ``config_dir``, or the defaults when there is none."""
    if config_dir is None:
        return ServerFile()
    path = Path(config_dir) / SERVER_FILE
    if not os.path.lexists(path):  # a dangling link, a directory or a FIFO is refused
        return ServerFile()
    parsed = load_yaml_file(path, ServerFile)
    ids = [a.id for a in parsed.accounts if a.id]
    if len(ids) != len(set(ids)):
        raise ConfigError(str(path), "accounts", "account ids must be unique")
    return parsed
