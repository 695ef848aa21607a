"""Fills keyed by (venue, account, venue fill id): the schema migration from a file with fills
keyed by their id alone, a fill sent again counting once, and a different fill under a stored
key recorded and never applied."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from algotrading.state.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from algotrading.state.store import StateStore
from tests.unit.state.samples import fill, order

VENUE = ("simulated@in-process", "paper")


def _store(tmp_path, key=VENUE) -> StateStore:
    store = StateStore.open(tmp_path / "s.sqlite", commit_every=1)
    store.venue_key = key
    store.begin_session("s1", "paper", {}, 1)
    return store


def test_v5_keeps_the_fills_of_an_older_file_and_keys_them_by_venue(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for number in range(4):  # a file as the build before v5 left it
        MIGRATIONS[number](db)
    conn.execute("PRAGMA user_version = 4")
    conn.execute(
        "INSERT INTO sessions (session_id, mode, config, started_ns) VALUES ('a', 'paper', '{}', 1)"
    )
    conn.execute(
        "INSERT INTO fills (fill_id, client_order_id, venue_order_id, instrument, side, "
        "quantity, price, commission, currency, ts_event) "
        "VALUES ('F1', 'a-000001', 'S1', 'EUR_USD', 'BUY', 10000, 1.1, 0, 'USD', 5)"
    )
    assert migrate(conn, str(path)) == 4
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rows = conn.execute("SELECT venue, account, fill_id, quantity FROM fills").fetchall()
    assert rows == [("", "", "F1", 10000.0)]
    pk = [
        r[1] for r in sorted(conn.execute("PRAGMA table_info(fills)"), key=lambda r: r[5]) if r[5]
    ]
    assert pk == ["venue", "account", "fill_id"]
    # the same fill id from another venue account is another fill
    conn.execute(
        "INSERT INTO fills (venue, account, fill_id, client_order_id, instrument, side, "
        "quantity, price, ts_event) VALUES ('x', 'y', 'F1', 'b', 'EUR_USD', 'BUY', 1, 1, 1)"
    )
    conn.close()


def test_the_same_fill_twice_counts_once(tmp_path):
    store = _store(tmp_path)
    store.write_ahead(order(quantity=20_000))
    store.append(fill("F1"))
    store.append(fill("F1"))
    assert len(store.fills()) == 1
    assert store.order("s1-000001")["filled_quantity"] == 10_000
    assert store.fill_conflicts() == []
    store.close()


def test_one_fill_id_under_two_venue_accounts_is_two_fills(tmp_path):
    store = _store(tmp_path)
    store.write_ahead(order(quantity=20_000))
    store.append(fill("F1"))
    store.venue_key = ("oanda@http://x", "001")
    store.append(fill("F1"))
    assert len(store.fills()) == 2
    assert store.order("s1-000001")["status"] == "FILLED"
    store.close()


def test_a_different_fill_under_a_stored_key_is_kept_and_recorded_never_applied(tmp_path):
    store = _store(tmp_path)
    store.write_ahead(order(quantity=30_000))
    store.append(fill("F1"))
    store.append(fill("F1", price=1.2))  # another fill under the same key
    assert [f["price"] for f in store.fills()] == [1.1]
    assert store.order("s1-000001")["filled_quantity"] == 10_000
    (conflict,) = store.fill_conflicts()
    assert (conflict["venue"], conflict["account"], conflict["fill_id"]) == (*VENUE, "F1")
    assert conflict["price"] == 1.2
    assert conflict["session_id"] == "s1"
    # the journal keeps both
    assert [m.price for m in store.journal() if type(m).__name__ == "Fill"] == [1.1, 1.2]
    store.close()


def test_fill_terms_reads_the_applied_fills_of_one_venue_account(tmp_path):
    store = _store(tmp_path)
    store.write_ahead(order(quantity=30_000))
    store.append(fill("F1"))
    store.append(fill("F2", price=1.3))
    terms = dict(store.fill_terms(*VENUE))
    assert set(terms) == {"F1", "F2"}
    assert terms["F2"] == ("s1-000001", "EUR_USD", "BUY", 10_000.0, 1.3, 2_000)
    assert list(store.fill_terms("other", "acct")) == []
    store.close()
