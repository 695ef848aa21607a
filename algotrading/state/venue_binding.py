"""A state directory belongs to one venue account.

Its orders, fills and positions, the journal a warm start replays and the catch-up it trades
are all about what one venue account did. Applied to another venue they are wrong: a daemon
that had paper-traded in-process and is then pointed at a broker would "catch up" by sending
orders for positions that broker never held. So the state records the venue it trades (kind,
endpoint, account) at its first session, and a start against another is refused, before
anything is sent, unless the operator sets the old state aside (``run --fresh-state``).

The in-process simulated venue lives and dies with its daemon: orders still working at it when
its session ended can never fill. :func:`settle_orders` ends them (cancelled, journaled)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from algotrading.errors import AlgotradingError
from algotrading.log import get_logger
from algotrading.messages import OrderCancelled
from algotrading.state.store import OPEN_STATUSES, StateStore, _acquire_lock

if TYPE_CHECKING:
    pass

IN_PROCESS = "in-process"
SIMULATED = "simulated"


class VenueMismatchError(AlgotradingError):
    """The state belongs to another venue or account than the one configured."""


class VenueIdentity(msgspec.Struct, frozen=True):
    """Which venue account a state trades. ``account`` "" (only for a state recorded before
    venues were, when its configuration named none) matches any account."""

    kind: str
    endpoint: str
    account: str

    @property
    def key(self) -> tuple[str, str]:
        """(venue, account): what the state's fills are keyed under, with the venue's id."""
        return f"{self.kind}@{self.endpoint}", self.account

    @property
    def in_process(self) -> bool:
        """The venue dies with the daemon (the in-process simulated exchange)."""
        return self.endpoint == IN_PROCESS

    def matches(self, other: VenueIdentity) -> bool:
        same_account = not self.account or not other.account or self.account == other.account
        return self.kind == other.kind and self.endpoint == other.endpoint and same_account

    def describe(self) -> str:
        if self.in_process:
            return f"the {self.kind} venue ({self.endpoint})"
        return f"{self.kind} account {self.account or '(unnamed)'} at {self.endpoint}"


def check_binding(store: StateStore, identity: VenueIdentity, now_ns: int) -> None:
    """Refuse the state when it belongs to another venue account than ``identity``; record
    ``identity`` on a state that has none (a state from before venues were recorded is judged
    by its newest session's configuration). Sets the store's fill key. Call it before
    :meth:`StateStore.begin_session`."""
    bound = store.venue_binding()
    recorded = (
        VenueIdentity(bound["kind"], bound["endpoint"], bound["account"])
        if bound is not None
        else _recorded_by_sessions(store)
    )
    if recorded is not None and not recorded.matches(identity):
        raise VenueMismatchError(
            f"{store.path}: this state belongs to {recorded.describe()}, but the configuration "
            f"trades {identity.describe()}; use another --state-dir, or run --fresh-state to "
            "set this state aside and start anew"
        )
    if bound is None:
        store.bind_venue(identity.kind, identity.endpoint, identity.account, now_ns, identity.key)
    store.venue_key = identity.key


def settle_orders(store: StateStore, identity: VenueIdentity, now_ns: int) -> int:
    """With an in-process venue, end every order still open in the state: its venue is gone
    (a session that ended, or the one ending now), so it can never fill. Each is journaled
    cancelled, its fills kept (a partly filled order ends cancelled with its filled quantity).
    Returns how many. Call it once a session has begun."""
    if not identity.in_process:
        return 0  # a venue of its own still has them: recovery and reconciliation ask it
    orders = store.orders(OPEN_STATUSES)
    if orders:
        get_logger("state").warning("orders_settled", orders=len(orders), reason="venue_gone")
    for order in orders:
        store.append(
            OrderCancelled(
                ts_event=now_ns,
                client_order_id=order["client_order_id"],
                reason=f"venue_gone: the in-process venue of session {order['session_id']} "
                f"ended with it ({order['filled_quantity']:g} of {order['quantity']:g} filled)",
            )
        )
    return len(orders)


def set_aside(db_path: Path, now_ns: int | None = None) -> Path | None:
    """Rename the state database at ``db_path`` to a timestamped backup beside it (never
    deleted), so that the next start begins on a new one. Refused while a daemon holds the
    state. Returns the backup's path, or None when there was no database."""
    if not db_path.parent.is_dir():
        return None
    lock = _acquire_lock(db_path)
    try:
        if not db_path.exists():
            return None
        try:  # fold the write-ahead log into the file, so the file alone is the state
            conn = sqlite3.connect(db_path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            pass  # not a usable database: set aside as it is
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime((now_ns or time.time_ns()) / 1e9))
        backup = _free_name(db_path.with_name(f"{db_path.stem}-{stamp}{db_path.suffix}"))
        os.rename(db_path, backup)
        for tail in ("-wal", "-shm"):  # present only if the checkpoint could not run
            side = db_path.with_name(db_path.name + tail)
            if side.exists():
                os.rename(side, backup.with_name(backup.name + tail))
        return backup
    finally:
        lock.close()


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _recorded_by_sessions(store: StateStore) -> VenueIdentity | None:
    """The venue a state from before venues were recorded traded, from the configuration of
    its newest session (None without one)."""
    from algotrading.adapters.venue import configured_identity
    from algotrading.config import VenueConfig

    sessions = store.sessions()
    if not sessions:
        return None
    config: dict[str, Any] = json.loads(sessions[-1]["config"] or "{}")
    venue = config.get("system", {}).get("venue", {})
    oanda = venue.get("oanda", {})
    named = {k: oanda[k] for k in ("environment", "rest_url", "account_id") if k in oanda}
    try:
        settings = msgspec.convert(
            {"kind": venue.get("kind", SIMULATED), "oanda": named}, VenueConfig
        )
        return configured_identity(settings)
    except (msgspec.ValidationError, KeyError):
        return None
