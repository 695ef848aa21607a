"""The server's own SQLite file (``sim-exchange.sqlite`` in the state directory): accounts,
their transaction logs, orders and trades, a snapshot of each account's engine, and where the
market was (data time of the clock and of the last quote of each instrument).

Protocol: every change is committed before anyone hears of it — a request's transactions
before its response, a price's fills before the transaction streams get them — and each commit
snapshots every account together with the market position, so the file always holds one
consistent moment. A restarted server restores the accounts from it, regenerates the same
seeded price stream and skips what the accounts had already seen.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from algotrading.sim.server.accounts import SimAccount, Totals
from algotrading.sim.server.order_records import OrderRecord
from algotrading.sim.server.trades import TradeRecord
from algotrading.sim.server.transactions import Transaction
from algotrading.state.store import _acquire_lock

DB_NAME = "sim-exchange.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, position INTEGER NOT NULL, alias TEXT NOT NULL,
    user_id INTEGER NOT NULL, created_ns INTEGER NOT NULL, currency TEXT NOT NULL,
    initial_balance REAL NOT NULL, state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    account_id TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS orders (
    account_id TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS trades (
    account_id TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
"""
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class StoredAccount:
    id: str
    alias: str
    user_id: int
    created_ns: int
    currency: str
    initial_balance: float
    engine: dict[str, Any]
    totals: Totals
    transactions: list[Transaction]
    orders: list[OrderRecord]
    trades: list[TradeRecord]


class ServerStore:
    def __init__(
        self, connection: sqlite3.Connection, path: Path, lock: IO[str] | None = None
    ) -> None:
        self.db = connection
        self.path = path
        self._lock = lock

    @classmethod
    def open(cls, state_dir: Path) -> ServerStore:
        """Open (or create) the file, holding ``sim-exchange.sqlite.lock`` for as long as it is
        open: a second server on the same directory gets :class:`StateLockedError` (the CLI
        prints it on one line, exit 2) instead of handing out the same transaction ids."""
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / DB_NAME
        lock = _acquire_lock(path)
        try:
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except BaseException:
            lock.close()
            raise
        return cls(db, path, lock)

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # --- reading --------------------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return msgspec.json.decode(row[0]) if row else default

    def accounts(self) -> list[StoredAccount]:
        rows = self.db.execute(
            "SELECT id, alias, user_id, created_ns, currency, initial_balance, state "
            "FROM accounts ORDER BY position"
        ).fetchall()
        out = []
        for account_id, alias, user_id, created_ns, currency, balance, state in rows:
            saved = msgspec.json.decode(state)
            out.append(
                StoredAccount(
                    id=account_id,
                    alias=alias,
                    user_id=user_id,
                    created_ns=created_ns,
                    currency=currency,
                    initial_balance=balance,
                    engine=saved["engine"],
                    totals=msgspec.convert(saved["totals"], Totals),
                    transactions=self._rows("transactions", account_id, dict),
                    orders=self._rows("orders", account_id, OrderRecord),
                    trades=self._rows("trades", account_id, TradeRecord),
                )
            )
        return out

    def _rows(self, table: str, account_id: str, kind: type[Any]) -> list[Any]:
        rows = self.db.execute(
            f"SELECT body FROM {table} WHERE account_id = ? ORDER BY id", (account_id,)
        ).fetchall()
        return [msgspec.json.decode(body, type=kind) for (body,) in rows]

    # --- writing --------------------------------------------------------------------------

    def commit(
        self,
        accounts: list[SimAccount],
        positions: dict[str, int],
        clock_ns: int,
        initial_balances: dict[str, float],
    ) -> dict[str, list[Transaction]]:
        """Write every account's changes and snapshot, and the market position, in one
        transaction. Returns the new transactions of each account (to publish now)."""
        published: dict[str, list[Transaction]] = {}
        db = self.db
        db.execute("BEGIN")
        try:
            for position, account in enumerate(accounts):
                changes = account.take_changes()
                published[account.id] = changes.transactions
                db.executemany(
                    "INSERT OR REPLACE INTO transactions VALUES (?, ?, ?)",
                    [(account.id, int(tx["id"]), _encode(tx)) for tx in changes.transactions],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO orders VALUES (?, ?, ?)",
                    [(account.id, int(r.id), _encode(r)) for r in changes.orders],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO trades VALUES (?, ?, ?)",
                    [(account.id, int(t.id), _encode(t)) for t in changes.trades],
                )
                state = {"engine": account.exchange.engine_state(), "totals": account.totals}
                db.execute(
                    "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        account.id,
                        position,
                        account.alias,
                        account.user_id,
                        account.created_ns,
                        account.currency,
                        initial_balances[account.id],
                        _encode(state),
                    ),
                )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('positions', ?), ('clock_ns', ?)",
                (_encode(positions), _encode(clock_ns)),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return published
