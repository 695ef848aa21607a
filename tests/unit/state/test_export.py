"""Exporting a recorded session from a real state database to Parquet: the messages read back
equal the ones journaled, the per-kind columns are typed, the bytes are the same every time,
damaged records are kept raw, and the database may be held open by a daemon meanwhile."""

from __future__ import annotations

import json
import sqlite3
import typing
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from algotrading.errors import AlgotradingError, DataError
from algotrading.messages import (
    AccountState,
    Alert,
    AlertLevel,
    AnyMessage,
    ApprovedOrder,
    Bar,
    Command,
    Features,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderIntent,
    OrderSubmitted,
    OrderType,
    Position,
    Prediction,
    Quote,
    Side,
    Trade,
    VenueEvent,
    decode_json,
    type_name,
)
from algotrading.state.export import JOURNAL_FILE, export_session, kind_file, list_sessions
from algotrading.state.export_read import read_manifest, read_recording, read_records
from algotrading.state.store import StateStore

T0 = 1_704_700_800_000_000_000  # 2024-01-08T08:00:00Z
SEC = 10**9


def session_messages(session: str, start: int, n_quotes: int) -> list[Message]:
    """What a short trading session journals: quotes, a bar, a signal, an order's life, a fill
    and the position and account it changes, an operator command and an alert."""
    msgs: list[Message] = [
        Quote(
            ts_event=start + i * SEC,
            ts_recv=start + i * SEC + 1_000,
            instrument="EUR_USD",
            bid=1.1 + i * 1e-5,
            ask=1.1002 + i * 1e-5,
            bid_size=1e6,
        )
        for i in range(n_quotes)
    ]
    t = start + n_quotes * SEC
    cid = f"{session}-000001"
    intent = OrderIntent(
        ts_event=t,
        strategy_id="sma",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=10_000,
        order_type=OrderType.LIMIT,
        limit_price=1.1005,
        stop_loss=1.09,
    )
    msgs += [
        Bar(
            ts_event=t,
            instrument="EUR_USD",
            interval_ns=60 * SEC,
            ts_open=t - 60 * SEC,
            open=1.1,
            high=1.101,
            low=1.099,
            close=1.1005,
            volume=12.0,
        ),
        Features(ts_event=t, instrument="EUR_USD", names=("ret1", "rsi14"), values=(1e-4, 55.0)),
        Prediction(ts_event=t, instrument="EUR_USD", model_id="lgbm-1", value=0.3),
        ApprovedOrder(ts_event=t, intent=intent),
        OrderSubmitted(ts_event=t, client_order_id=cid),
        OrderAccepted(ts_event=t + 1, client_order_id=cid, venue_order_id="V1"),
        Trade(ts_event=t + 2, instrument="EUR_USD", price=1.1004, size=5.0),
        Fill(
            ts_event=t + 3,
            fill_id=f"{session}-F1",
            client_order_id=cid,
            venue_order_id="V1",
            strategy_id="sma",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=10_000,
            price=1.1004,
            commission=0.5,
        ),
        Position(ts_event=t + 3, instrument="EUR_USD", quantity=10_000, avg_price=1.1004),
        AccountState(ts_event=t + 4, currency="USD", balance=99_999.5, equity=100_001.0),
        Command(ts_event=t + 5, name="pause", args={"by": "ops"}, request_id="r1"),
        Alert(ts_event=t + 6, level=AlertLevel.WARNING, code="SPREAD", text="spread wide"),
        VenueEvent(ts_event=t + 7, venue="oanda", payload={"type": "HEARTBEAT", "n": [1, 2]}),
    ]
    return msgs


def record_session(
    store: StateStore, session: str, start: int, n_quotes: int = 20, end: bool = True
) -> list[Message]:
    store.begin_session(session, "paper", {"strategy": {"name": "sma"}, "seed": 7}, start)
    msgs = session_messages(session, start, n_quotes)
    store.write_ahead(
        Order(
            ts_event=start,
            client_order_id=f"{session}-000001",
            strategy_id="sma",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=10_000,
            order_type=OrderType.LIMIT,
            limit_price=1.1005,
        )
    )
    for msg in msgs:
        store.append(msg)
    if end:
        store.end_session(start + 3600 * SEC, "duration reached")
    store.flush()
    return msgs


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, dict[str, list[Message]]]:
    """Three sessions in a real state database, closed again."""
    path = tmp_path / "state" / "algotrading.sqlite"
    store = StateStore.open(path)
    recorded = {
        "s1": record_session(store, "s1", T0),
        "s2": record_session(store, "s2", T0 + 86_400 * SEC, n_quotes=5),
        "s3": record_session(store, "s3", T0 + 2 * 86_400 * SEC, n_quotes=3),
    }
    store.close()
    return path, recorded


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_the_export_reads_back_as_the_messages_journaled(db, tmp_path):
    path, recorded = db
    result = export_session(path, "s2", tmp_path / "out")
    assert result.records == len(recorded["s2"])
    assert list(read_recording(tmp_path / "out")) == recorded["s2"]
    assert list(read_recording(tmp_path / "out" / JOURNAL_FILE)) == recorded["s2"]
    # seqs continue across sessions: s2 follows s1's records
    assert (result.first_seq, result.last_seq) == (
        len(recorded["s1"]) + 1,
        len(recorded["s1"]) + len(recorded["s2"]),
    )
    assert result.damaged == ()


def test_the_journal_file_holds_raw_bodies_and_json(db, tmp_path):
    path, recorded = db
    export_session(path, "s1", tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / JOURNAL_FILE)
    assert table.schema.field("body").type == pa.binary()
    assert table.column("kind").to_pylist() == [type(m).__name__ for m in recorded["s1"]]
    assert [decode_json(t) for t in table.column("json").to_pylist()] == recorded["s1"]
    raw = sqlite3.connect(path).execute(
        "SELECT seq, ts_recv, body FROM journal WHERE session_id = 's1' ORDER BY seq"
    )
    assert list(
        zip(*(table.column(c).to_pylist() for c in ("seq", "ts_recv", "body")), strict=True)
    ) == [tuple(r) for r in raw]


def test_each_kind_has_typed_columns(db, tmp_path):
    path, recorded = db
    result = export_session(path, "s1", tmp_path / "out")
    out = tmp_path / "out"
    assert result.kinds["Quote"] == 20
    quotes = pd.read_parquet(out / "quotes.parquet")
    assert list(quotes.columns) == [
        "seq",
        "ts_event",
        "ts_recv",
        "instrument",
        "bid",
        "ask",
        "bid_size",
        "ask_size",
    ]
    assert str(quotes["bid"].dtype) == "float64"
    assert str(quotes["ts_event"].dtype) == "int64"
    sent = [m for m in recorded["s1"] if isinstance(m, Quote)]
    assert quotes["bid"].tolist() == [q.bid for q in sent]
    assert quotes["ts_recv"].tolist() == [q.ts_recv for q in sent]
    assert quotes["seq"].tolist() == list(range(1, 21))

    fills = pq.read_table(out / "fills.parquet")
    assert fills.schema.field("side").type == pa.string()
    assert fills.schema.field("quantity").type == pa.float64()
    assert fills.to_pylist()[0] | {"seq": 0} == {
        "seq": 0,
        "ts_event": T0 + 20 * SEC + 3,
        "ts_recv": 0,
        "fill_id": "s1-F1",
        "client_order_id": "s1-000001",
        "venue_order_id": "V1",
        "strategy_id": "sma",
        "instrument": "EUR_USD",
        "side": "BUY",
        "quantity": 10_000.0,
        "price": 1.1004,
        "commission": 0.5,
        "currency": "USD",
        "quote_rate": 1.0,
        "parent_id": "",
        "financing": 0.0,
    }
    features = pq.read_table(out / "features.parquet")
    assert features.schema.field("values").type == pa.list_(pa.float64())
    assert features.column("names").to_pylist() == [["ret1", "rsi14"]]
    approved = pq.read_table(out / "approved_orders.parquet")  # a nested struct, flattened
    assert approved.column("intent.side").to_pylist() == ["BUY"]
    assert approved.column("intent.limit_price").to_pylist() == [1.1005]
    assert approved.column("intent.stop_price").to_pylist() == [None]
    trades = pq.read_table(out / "trades.parquet")
    assert trades.column("aggressor").to_pylist() == [None]
    commands = pq.read_table(out / "commands.parquet")
    assert json.loads(commands.column("args")[0].as_py()) == {"by": "ops"}
    venue = pq.read_table(out / "venue_events.parquet")
    assert json.loads(venue.column("payload")[0].as_py()) == {"type": "HEARTBEAT", "n": [1, 2]}
    assert pq.read_table(out / "alerts.parquet").column("level").to_pylist() == ["WARNING"]
    assert pq.read_table(out / "account.parquet").column("equity").to_pylist() == [100_001.0]
    orders = pq.read_table(out / "orders.parquet").to_pylist()
    assert [(o["client_order_id"], o["status"], o["filled_quantity"]) for o in orders] == [
        ("s1-000001", "FILLED", 10_000.0)
    ]
    per_kind = sum(pq.ParquetFile(out / kind_file(k)).metadata.num_rows for k in result.kinds)
    assert per_kind == result.records


def test_every_message_kind_has_its_own_file_name():
    names = [kind_file(type_name(t)) for t in typing.get_args(AnyMessage)]
    assert len(set(names)) == len(names)
    assert not {JOURNAL_FILE, "orders.parquet"} & set(names)


def test_exporting_twice_gives_the_same_bytes(db, tmp_path):
    path, _ = db
    export_session(path, "s1", tmp_path / "a")
    export_session(path, "s1", tmp_path / "b")
    first = files(tmp_path / "a")
    assert first == files(tmp_path / "b")
    export_session(path, "s1", tmp_path / "a")  # replaces the earlier export in place
    assert files(tmp_path / "a") == first
    metadata = pq.ParquetFile(tmp_path / "a" / "quotes.parquet").metadata.metadata
    assert set(metadata) == {b"ARROW:schema"}  # nothing about when it was written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_the_manifest_holds_the_session_and_its_config(db, tmp_path):
    path, recorded = db
    export_session(path, "s3", tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert manifest["session"] == {
        "session_id": "s3",
        "mode": "paper",
        "started_ns": T0 + 2 * 86_400 * SEC,
        "started": "2024-01-10T08:00:00Z",
        "ended_ns": T0 + 2 * 86_400 * SEC + 3600 * SEC,
        "ended": "2024-01-10T09:00:00Z",
        "stop_reason": "duration reached",
    }
    assert manifest["config"] == {"strategy": {"name": "sma"}, "seed": 7}
    assert manifest["journal"]["records"] == len(recorded["s3"])
    assert manifest["kinds"]["Quote"] == {"file": "quotes.parquet", "rows": 3}


def test_a_damaged_record_is_exported_raw_and_counted(db, tmp_path):
    path, recorded = db
    conn = sqlite3.connect(path)
    seqs = [r[0] for r in conn.execute("SELECT seq FROM journal WHERE session_id='s2'")]
    conn.execute("UPDATE journal SET body = x'c1ff' WHERE seq = ?", (seqs[2],))
    conn.commit()
    conn.close()
    result = export_session(path, "s2", tmp_path / "out")
    assert result.damaged == (seqs[2],)
    assert result.records == len(recorded["s2"])  # not dropped
    table = pq.read_table(tmp_path / "out" / JOURNAL_FILE)
    row = table.filter(pc.equal(table.column("seq"), seqs[2])).to_pylist()[0]
    assert (row["body"], row["json"]) == (b"\xc1\xff", None)
    assert result.kinds["Quote"] == 4  # the per-kind tables hold what could be read
    assert read_manifest(tmp_path / "out")["journal"]["damaged_seqs"] == [seqs[2]]
    with pytest.raises(DataError, match=f"journal record {seqs[2]} cannot be read"):
        list(read_recording(tmp_path / "out"))  # replay must not skip a step in the middle


def test_a_damaged_last_record_is_left_out_of_the_replay(db, tmp_path):
    path, recorded = db
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE journal SET body = x'00' WHERE seq = "
        "(SELECT max(seq) FROM journal WHERE session_id = 's3')"
    )
    conn.commit()
    conn.close()
    export_session(path, "s3", tmp_path / "out")
    assert list(read_recording(tmp_path / "out")) == recorded["s3"][:-1]


def test_exporting_while_a_daemon_holds_the_store(db, tmp_path):
    path, recorded = db
    store = StateStore.open(path, commit_every=10_000, commit_interval_s=3600)  # holds the lock
    store.begin_session("s4", "paper", {}, T0 + 3 * 86_400 * SEC)
    store.append(Quote(ts_event=T0, instrument="EUR_USD", bid=1.0, ask=1.1))
    try:
        result = export_session(path, "s4", tmp_path / "running")  # the quote is not committed
        assert result.records == 0
        assert list(read_recording(tmp_path / "running")) == []
        store.flush()
        export_session(path, "s4", tmp_path / "running")
        assert len(list(read_recording(tmp_path / "running"))) == 1
        export_session(path, "s1", tmp_path / "s1")
        assert list(read_recording(tmp_path / "s1")) == recorded["s1"]
        assert read_manifest(tmp_path / "running")["session"]["ended_ns"] is None
    finally:
        store.close()


def test_read_recording_reads_a_database_too(db, tmp_path):
    path, recorded = db
    assert list(read_recording(path)) == recorded["s3"]  # the newest session
    assert list(read_recording(path, "s1")) == recorded["s1"]
    export_session(path, "s2", tmp_path / "s2")
    pairs = list(read_records(tmp_path / "s2"))
    assert pairs == list(read_records(path, "s2"))
    first = len(recorded["s1"]) + 1
    assert [seq for seq, _ in pairs] == list(range(first, first + len(recorded["s2"])))
    with pytest.raises(DataError, match="no session 'nope'"):
        read_recording(path, "nope")


def test_sessions_are_listed_with_their_record_counts(db):
    path, recorded = db
    sessions = list_sessions(path)
    assert [(s.session_id, s.records, s.stop_reason) for s in sessions] == [
        (sid, len(msgs), "duration reached") for sid, msgs in recorded.items()
    ]
    assert sessions[0].kinds["Quote"] == 20
    assert sessions[1].first_seq == len(recorded["s1"]) + 1


def test_bad_input_is_a_clear_error(db, tmp_path):
    path, _ = db
    with pytest.raises(DataError, match=r"no session 'nope' \(sessions: s1, s2, s3\)"):
        export_session(path, "nope", tmp_path / "out")
    with pytest.raises(AlgotradingError, match="no state database here"):
        export_session(tmp_path / "missing.sqlite", "s1", tmp_path / "out")
    not_db = tmp_path / "not.sqlite"
    not_db.write_bytes(b"hello" * 1000)
    with pytest.raises(AlgotradingError, match="not a usable state database"):
        export_session(not_db, "s1", tmp_path / "out")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(AlgotradingError, match="not a recording export; not replacing it"):
        export_session(path, "s1", precious)
    assert (precious / "notes.txt").read_text() == "mine"
    with pytest.raises(DataError, match=r"no journal\.parquet"):
        read_recording(precious)
    assert not (tmp_path / "out").exists()
