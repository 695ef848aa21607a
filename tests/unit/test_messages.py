import msgspec
import pytest

from algotrading import messages as m

INTENT = m.OrderIntent(
    ts_event=5, strategy_id="s", instrument="EUR_USD", side=m.Side.SELL, quantity=1000.0, reason="x"
)
ORDER = m.Order(
    ts_event=6,
    client_order_id="c-1",
    strategy_id="s",
    instrument="EUR_USD",
    side=m.Side.BUY,
    quantity=1.0,
)
SAMPLES = [
    m.Quote(ts_event=1, ts_recv=2, instrument="EUR_USD", bid=1.1, ask=1.2),
    m.Trade(ts_event=1, instrument="EUR_USD", price=1.1, size=3.0, aggressor=m.Side.BUY),
    m.Bar(
        ts_event=60,
        instrument="EUR_USD",
        interval_ns=60,
        ts_open=0,
        open=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=10.0,
    ),
    m.Timer(ts_event=3),
    m.Heartbeat(ts_event=3, source="feed"),
    m.Features(ts_event=3, instrument="EUR_USD", names=("a", "b"), values=(1.0, 2.0)),
    m.Prediction(ts_event=3, instrument="EUR_USD", model_id="lgbm-1", value=0.3),
    INTENT,
    INTENT.approved(7),
    INTENT.denied(7, "halted", "trading is halted"),
    ORDER,
    m.SubmitOrder(ts_event=6, order=ORDER),
    m.CancelOrder(ts_event=6, client_order_id="c-1"),
    m.ModifyOrder(ts_event=6, client_order_id="c-1", limit_price=1.2),
    m.OrderSubmitted(ts_event=6, client_order_id="c-1"),
    m.OrderAccepted(ts_event=6, client_order_id="c-1", venue_order_id="v1"),
    m.OrderRejected(ts_event=6, client_order_id="c-1", code="x", reason="y"),
    m.OrderCancelled(ts_event=6, client_order_id="c-1"),
    m.OrderModified(ts_event=6, order=ORDER, venue_order_id="v1"),
    m.RequestRejected(ts_event=6, client_order_id="c-1", request="cancel", code="x", reason="y"),
    m.Financing(ts_event=6, instrument="EUR_USD", quantity=1.0, amount=-0.5, days=3),
    m.Fill(
        ts_event=6,
        fill_id="f",
        client_order_id="c-1",
        venue_order_id="v1",
        strategy_id="s",
        instrument="EUR_USD",
        side=m.Side.BUY,
        quantity=1.0,
        price=1.1,
    ),
    m.Position(ts_event=6, instrument="EUR_USD", quantity=-5.0, avg_price=1.1),
    m.AccountState(ts_event=6, currency="USD", balance=1.0, equity=2.0),
    m.RiskState(ts_event=6, state=m.TradingState.HALTED, reason="r"),
    m.BreakerFigures(ts_event=6, figures={"max_drawdown": {"peak": 1.5, "tripped": None}}),
    m.Alert(ts_event=6, level=m.AlertLevel.CRITICAL, code="c", text="t"),
    m.Command(ts_event=6, name="halt", args={"reason": "r"}),
    m.ActorFailed(ts_event=6, actor="model", error="E", restarts=1, action="restart"),
    m.VenueEvent(ts_event=6, venue="oanda", payload={"type": "ORDER_FILL", "units": "-100"}),
    m.VenueCursor(ts_event=6, venue="oanda", account="101-1", transaction_id="42"),
    m.VenuePositions(
        ts_event=6, cursor="42", positions={"EUR_USD": (-100.0, 1.1)}, working=("a-000001",)
    ),
    m.Recorded(ts_event=7, actor="strategy", step="in", body=b"\x81\xa1a\x01"),
]


def test_every_message_type_has_a_sample():
    union = set(m.AnyMessage.__args__)  # type: ignore[attr-defined]
    assert {type(s) for s in SAMPLES} == union


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trips_through_msgpack_and_json(msg):
    assert m.decode_msgpack(m.encode_msgpack(msg)) == msg
    assert m.decode_json(m.encode_json(msg)) == msg
    assert type(m.decode_json(m.encode_json(msg))) is type(msg)


def test_messages_are_frozen_and_tagged():
    with pytest.raises(AttributeError):
        SAMPLES[0].bid = 3.0  # type: ignore[misc]
    assert b'"type":"Quote"' in m.encode_json(SAMPLES[0])


def test_malformed_input_is_a_validation_error():
    with pytest.raises(msgspec.ValidationError):
        m.decode_json(b'{"type":"Quote","ts_event":"yesterday","instrument":"X","bid":1,"ask":1}')
    with pytest.raises(msgspec.ValidationError):
        m.decode_json(b'{"type":"Nope","ts_event":1}')
