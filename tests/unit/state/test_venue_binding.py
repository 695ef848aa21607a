"""A state belongs to one venue account: recorded at the first start, another refused, a
state from before judged by its newest session's configuration, set aside on request; orders
an in-process venue took with it end cancelled."""

from __future__ import annotations

import sqlite3

import pytest

from algotrading.adapters.venue import configured_identity
from algotrading.config import OandaConfig, VenueConfig
from algotrading.errors import AlgotradingError
from algotrading.state.store import StateLockedError, StateStore
from algotrading.state.venue_binding import (
    VenueIdentity,
    VenueMismatchError,
    check_binding,
    set_aside,
    settle_orders,
)
from tests.unit.state.samples import fill, order

PAPER = VenueIdentity("simulated", "in-process", "paper")
SIM_SERVER = VenueIdentity("oanda", "http://127.0.0.1:8765", "001-001-0000001-001")


def _open(tmp_path) -> StateStore:
    return StateStore.open(tmp_path / "algotrading.sqlite", commit_every=1)


def test_identity_of_the_configured_venue():
    assert configured_identity(VenueConfig()) == PAPER
    custom = VenueConfig(
        kind="oanda",
        oanda=OandaConfig(environment="custom", rest_url="http://127.0.0.1:8765"),
    )
    assert configured_identity(custom) == VenueIdentity("oanda", "http://127.0.0.1:8765", "")
    practice = VenueConfig(kind="oanda", oanda=OandaConfig(account_id="001-x"))
    assert configured_identity(practice) == VenueIdentity(
        "oanda", "https://api-fxpractice.oanda.com", "001-x"
    )


def test_the_first_start_records_the_venue_and_a_start_on_another_is_refused(tmp_path):
    store = _open(tmp_path)
    check_binding(store, PAPER, 5)
    assert store.venue_key == ("simulated@in-process", "paper")
    store.close()
    store = _open(tmp_path)
    check_binding(store, PAPER, 6)  # the same venue: fine
    assert store.venue_binding() == {
        "kind": "simulated",
        "endpoint": "in-process",
        "account": "paper",
        "bound_ns": 5,
    }
    with pytest.raises(VenueMismatchError) as refused:
        check_binding(store, SIM_SERVER, 7)
    text = str(refused.value)
    assert "simulated venue (in-process)" in text
    assert "oanda account 001-001-0000001-001 at http://127.0.0.1:8765" in text
    assert "--fresh-state" in text
    assert isinstance(refused.value, AlgotradingError)  # the CLI's exit 2, no traceback
    store.close()


def test_another_account_at_the_same_endpoint_is_refused(tmp_path):
    store = _open(tmp_path)
    check_binding(store, SIM_SERVER, 1)
    other = VenueIdentity(SIM_SERVER.kind, SIM_SERVER.endpoint, "001-001-0000002-001")
    with pytest.raises(VenueMismatchError, match="0000002"):
        check_binding(store, other, 2)
    store.close()


def test_a_state_from_before_is_judged_by_its_newest_session(tmp_path):
    store = _open(tmp_path)
    store.begin_session("p1", "paper", {"system": {"venue": {"kind": "simulated"}}}, 1)
    store.write_ahead(order("p1-000001"))
    store.append(fill("F1", cid="p1-000001"))  # keyed ('', '') as before venues were
    store.close()
    store = _open(tmp_path)
    with pytest.raises(VenueMismatchError, match="simulated venue"):
        check_binding(store, SIM_SERVER, 2)
    assert store.venue_binding() is None  # nothing recorded by a refusal
    check_binding(store, PAPER, 3)
    assert [(f["venue"], f["account"]) for f in store.fills()] == [
        ("simulated@in-process", "paper")
    ]
    store.close()


def test_settle_ends_the_orders_an_in_process_venue_took_with_it(tmp_path):
    store = _open(tmp_path)
    check_binding(store, PAPER, 1)
    store.begin_session("p1", "paper", {}, 1)
    store.write_ahead(order("p1-000001", quantity=20_000))
    store.append(fill("p1-F1", cid="p1-000001"))  # partly filled
    store.write_ahead(order("p1-000002"))
    store.write_ahead(order("p1-000003"))
    store.append(fill("p1-F2", cid="p1-000003"))  # filled
    assert settle_orders(store, PAPER, 9) == 2
    orders = {o["client_order_id"]: o for o in store.orders()}
    assert orders["p1-000001"]["status"] == "CANCELLED"
    assert orders["p1-000001"]["filled_quantity"] == 10_000
    assert "venue_gone" in orders["p1-000001"]["reason"]
    assert orders["p1-000002"]["status"] == "CANCELLED"
    assert orders["p1-000003"]["status"] == "FILLED"
    kinds = [type(m).__name__ for m in store.journal()]
    assert kinds.count("OrderCancelled") == 2
    assert settle_orders(store, PAPER, 10) == 0
    store.close()


def test_a_venue_of_its_own_keeps_its_orders(tmp_path):
    store = _open(tmp_path)
    check_binding(store, SIM_SERVER, 1)
    store.begin_session("p1", "paper", {}, 1)
    store.write_ahead(order("p1-000001"))
    assert settle_orders(store, SIM_SERVER, 2) == 0
    assert store.order("p1-000001")["status"] == "PENDING_SUBMIT"
    store.close()


def test_set_aside_renames_the_database_and_a_new_one_starts(tmp_path):
    store = _open(tmp_path)
    check_binding(store, PAPER, 1)
    store.begin_session("p1", "paper", {}, 1)
    store.close()
    kept = set_aside(tmp_path / "algotrading.sqlite", now_ns=1_700_000_000 * 10**9)
    assert kept == tmp_path / "algotrading-20231114T221320Z.sqlite"
    assert not (tmp_path / "algotrading.sqlite").exists()
    with sqlite3.connect(kept) as conn:  # whole: the write-ahead log is in it
        assert conn.execute("SELECT session_id FROM sessions").fetchall() == [("p1",)]
    again = set_aside(tmp_path / "algotrading.sqlite")
    assert again is None
    store = _open(tmp_path)
    check_binding(store, SIM_SERVER, 2)  # a new state: any venue
    store.close()
    # a second set-aside in the same second gets its own name
    second = set_aside(tmp_path / "algotrading.sqlite", now_ns=1_700_000_000 * 10**9)
    assert second == tmp_path / "algotrading-20231114T221320Z-2.sqlite"


def test_set_aside_is_refused_while_a_daemon_holds_the_state(tmp_path):
    store = _open(tmp_path)
    with pytest.raises(StateLockedError):
        set_aside(tmp_path / "algotrading.sqlite")
    store.close()
    assert (tmp_path / "algotrading.sqlite").exists()
