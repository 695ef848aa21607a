import json
import random
from typing import Any

import msgspec
import pytest

from algotrading.adapters.websocket_feed import (
    MISSING,
    QuoteMapping,
    QuoteParser,
    TimeFormat,
    WebsocketFeed,
    WebsocketFeedConfig,
    backoff_delay,
    fill_template,
    parse_message,
    parse_time_ns,
    resolve_path,
    split_path,
    subscription_messages,
)
from algotrading.messages import Quote
from algotrading.timestamps import parse_utc

# A flat vendor: one quote per message, beside other kinds of message, prices as strings.
FLAT = WebsocketFeedConfig(
    url="wss://vendor.example/stream?apikey=SECRET",
    symbols={"EUR_USD": "EURUSD", "GBP_USD": "GBPUSD"},
    subscribe=[{"action": "subscribe", "symbols": "{instruments}"}],
    mapping=QuoteMapping(
        instrument="s",
        bid="b",
        ask="a",
        time="t",
        time_format=TimeFormat.EPOCH_MS,
        filter_path="type",
        filter_value="quote",
    ),
)
FLAT_QUOTE = {"type": "quote", "s": "EURUSD", "b": "1.1", "a": "1.1002", "t": 1704700800123}

# A nested vendor: batches of quotes under "data", numbers as numbers, ISO times.
BATCHED = WebsocketFeedConfig(
    url="ws://127.0.0.1:9000/",
    symbols={"EUR_USD": "EURUSD", "GBP_USD": "GBPUSD"},
    subscribe=[{"op": "sub", "args": "{instrument_list}", "note": "fx:{instruments}"}],
    mapping=QuoteMapping(
        instrument="sym",
        bid="bid",
        ask="ask",
        time="ts",
        time_format=TimeFormat.ISO,
        messages_path="data",
    ),
)
BATCHED_QUOTE = {"sym": "GBPUSD", "bid": 1.27, "ask": 1.2702, "ts": "2024-01-08T09:00:00.5Z"}


def flat(**changes: object) -> str:
    return json.dumps({**FLAT_QUOTE, **changes})


def rejected(raw: str | bytes, config: WebsocketFeedConfig = FLAT) -> list[str]:
    result = parse_message(raw, config)
    assert result.quotes == []
    return result.rejections


# --- the two layouts ---------------------------------------------------------------------------


def test_flat_layout() -> None:
    result = parse_message(json.dumps(FLAT_QUOTE), FLAT, ts_recv=42)
    assert result.quotes == [
        Quote(
            ts_event=parse_utc("2024-01-08T08:00:00.123Z"),
            ts_recv=42,
            instrument="EUR_USD",
            bid=1.1,
            ask=1.1002,
        )
    ]
    assert result.rejections == []
    assert result.ignored == 0


def test_flat_layout_ignores_other_kinds_of_message() -> None:
    result = parse_message('{"type": "heartbeat"}', FLAT)
    assert result == ([], [], 1)
    assert parse_message(flat(type="trade"), FLAT).ignored == 1


def test_flat_layout_accepts_bytes() -> None:
    assert parse_message(json.dumps(FLAT_QUOTE).encode(), FLAT).quotes[0].bid == 1.1


def test_batched_layout() -> None:
    second = {**BATCHED_QUOTE, "sym": "EURUSD", "bid": 1.09, "ask": 1.0901}
    raw = json.dumps({"data": [BATCHED_QUOTE, second]})
    result = parse_message(raw, BATCHED, ts_recv=7)
    ts = parse_utc("2024-01-08T09:00:00Z") + 500_000_000
    assert result.quotes == [
        Quote(ts_event=ts, ts_recv=7, instrument="GBP_USD", bid=1.27, ask=1.2702),
        Quote(ts_event=ts, ts_recv=7, instrument="EUR_USD", bid=1.09, ask=1.0901),
    ]
    assert result.rejections == []


def test_batched_layout_keeps_the_good_quotes_of_a_batch_with_bad_ones() -> None:
    bad = {**BATCHED_QUOTE, "bid": "x"}
    result = parse_message(json.dumps({"data": [bad, BATCHED_QUOTE, 3]}), BATCHED)
    assert [q.instrument for q in result.quotes] == ["GBP_USD"]
    assert result.rejections == ["non_numeric_price", "not_an_object"]


def test_batched_layout_empty_batch_is_nothing() -> None:
    assert parse_message('{"data": []}', BATCHED) == ([], [], 0)


def test_top_level_array_is_messages_each_filtered() -> None:
    raw = json.dumps([FLAT_QUOTE, {"type": "status", "msg": "ok"}, {**FLAT_QUOTE, "s": "GBPUSD"}])
    result = parse_message(raw, FLAT)
    assert [q.instrument for q in result.quotes] == ["EUR_USD", "GBP_USD"]
    assert result.ignored == 1


def test_filter_matches_booleans_only_as_booleans() -> None:
    config = msgspec.structs.replace(
        FLAT, mapping=msgspec.structs.replace(FLAT.mapping, filter_path="q", filter_value=True)
    )
    assert len(parse_message(json.dumps({**FLAT_QUOTE, "q": True}), config).quotes) == 1
    assert parse_message(json.dumps({**FLAT_QUOTE, "q": 1}), config).ignored == 1


def test_prices_are_not_rounded() -> None:
    (quote,) = parse_message(flat(b="1.123456789", a="1.123456790"), FLAT).quotes
    assert quote.bid == 1.123456789
    assert quote.ask == 1.12345679


def test_integer_prices_become_floats() -> None:
    (quote,) = parse_message(flat(b=17000, a=17001), FLAT).quotes
    assert isinstance(quote.bid, float)
    assert quote.bid == 17000.0


# --- malformed input: rejected with a reason, never raised --------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ('{"type": "quote", "s": "EURUSD"', "bad_json"),
        ('{"type": "quote", "b": 1e400}', "bad_json"),
        ('"just a string"', "not_an_object"),
        ("[1]", "not_an_object"),
        (flat(s=None), "unknown_symbol:None"),
        (flat(s="XAUUSD"), "unknown_symbol:XAUUSD"),
        (flat(s=["EURUSD"]), "unknown_symbol:['EURUSD']"),
        (flat(b="abc"), "non_numeric_price"),
        (flat(a=""), "non_numeric_price"),
        (flat(b=None), "non_numeric_price"),
        (flat(b=True), "non_numeric_price"),
        (flat(b={"px": 1.1}), "non_numeric_price"),
        (flat(b="nan"), "non_finite_price"),
        (flat(a="inf"), "non_finite_price"),
        (flat(b="-Infinity"), "non_finite_price"),
        (flat(b="1.1003"), "crossed_quote"),
        (flat(b=0), "non_positive_price"),
        (flat(b=-1.1), "non_positive_price"),
        (flat(t="yesterday"), "bad_time:epoch_ms"),
        (flat(t=None), "bad_time:epoch_ms"),
        (flat(t=False), "bad_time:epoch_ms"),
        (flat(t=1704700800), "implausible_time:epoch_ms"),  # seconds sent, ms configured
    ],
)
def test_malformed_is_rejected_with_a_reason(raw: str | bytes, reason: str) -> None:
    assert rejected(raw) == [reason]


@pytest.mark.parametrize("field", ["s", "b", "a", "t"])
def test_missing_field_is_rejected(field: str) -> None:
    message = {k: v for k, v in FLAT_QUOTE.items() if k != field}
    assert rejected(json.dumps(message)) == [f"missing_field:{field}"]


def test_missing_or_wrong_batch_is_rejected() -> None:
    assert rejected('{"other": []}', BATCHED) == ["missing_field:data"]
    assert rejected('{"data": {"sym": "GBPUSD"}}', BATCHED) == ["missing_field:data"]


def test_bad_iso_time_is_rejected() -> None:
    raw = json.dumps({"data": [{**BATCHED_QUOTE, "ts": "08/01/2024 09:00"}]})
    assert rejected(raw, BATCHED) == ["bad_time:iso"]
    raw = json.dumps({"data": [{**BATCHED_QUOTE, "ts": 1704700800}]})
    assert rejected(raw, BATCHED) == ["bad_time:iso"]


def test_equal_bid_and_ask_is_a_quote() -> None:
    assert len(parse_message(flat(b="1.1", a="1.1"), FLAT).quotes) == 1


# --- times -------------------------------------------------------------------------------------

T = parse_utc("2024-01-08T08:00:00Z")


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (1704700800, "epoch_s", T),
        ("1704700800", "epoch_s", T),
        (1704700800.25, "epoch_s", T + 250_000_000),
        ("1704700800.123456789", "epoch_s", T + 123_456_789),
        (1704700800123, "epoch_ms", T + 123_000_000),
        (1704700800123.5, "epoch_ms", T + 123_500_000),
        ("1704700800123", "epoch_ms", T + 123_000_000),
        (1704700800123456789, "epoch_ns", T + 123_456_789),
        ("1704700800123456789", "epoch_ns", T + 123_456_789),
        ("2024-01-08T08:00:00Z", "iso", T),
        ("2024-01-08T08:00:00.5Z", "iso", T + 500_000_000),
        ("2024-01-08T08:00:00.123456789Z", "iso", T + 123_456_789),
        ("2024-01-08T09:00:00.25+01:00", "iso", T + 250_000_000),
        ("2024-01-08T08:00:00", "iso", T),
        ("soon", "iso", None),
        ("soon", "epoch_s", None),
        ("NaN", "epoch_s", None),
        (float("inf"), "epoch_ms", None),
        ([1], "epoch_ms", None),
        (True, "epoch_ns", None),
    ],
)
def test_parse_time_ns(value: object, fmt: str, expected: int | None) -> None:
    assert parse_time_ns(value, TimeFormat(fmt)) == expected


# --- paths -------------------------------------------------------------------------------------


def test_split_path() -> None:
    assert split_path("s") == ("s",)
    assert split_path("data.0.s") == ("data", 0, "s")
    for bad in ["", ".s", "data.", "data..s"]:
        with pytest.raises(ValueError, match="empty segment"):
            split_path(bad)


def test_resolve_path() -> None:
    doc = {"data": [{"s": "EURUSD", "n": None}], "0": "zero", "x": 1}
    assert resolve_path(doc, ("data", 0, "s")) == "EURUSD"
    assert resolve_path(doc, ("data", 0, "n")) is None
    assert resolve_path(doc, (0,)) == "zero"  # a digit names a key in an object
    assert resolve_path(doc, ("data",)) == [{"s": "EURUSD", "n": None}]
    assert resolve_path(doc, ("data", 1, "s")) is MISSING
    assert resolve_path(doc, ("data", "s")) is MISSING
    assert resolve_path(doc, ("x", "y")) is MISSING
    assert resolve_path(doc, ("nope",)) is MISSING


# --- subscriptions -----------------------------------------------------------------------------


def test_subscription_comma_joined() -> None:
    assert [json.loads(m) for m in subscription_messages(FLAT)] == [
        {"action": "subscribe", "symbols": "EURUSD,GBPUSD"}
    ]


def test_subscription_list_and_nested_strings() -> None:
    assert [json.loads(m) for m in subscription_messages(BATCHED)] == [
        {"op": "sub", "args": ["EURUSD", "GBPUSD"], "note": "fx:EURUSD,GBPUSD"}
    ]


def test_fill_template_walks_lists_and_objects_and_leaves_the_rest() -> None:
    template = {
        "params": {"channels": ["quotes:{instruments}", "{instrument_list}"], "depth": 1},
        "id": 7,
        "on": True,
        "keep": "{instrument_list} is only a whole value",
    }
    assert fill_template(template, ["A", "B"]) == {
        "params": {"channels": ["quotes:A,B", ["A", "B"]], "depth": 1},
        "id": 7,
        "on": True,
        "keep": "{instrument_list} is only a whole value",
    }


def test_no_subscription_messages() -> None:
    assert subscription_messages(msgspec.structs.replace(FLAT, subscribe=[])) == []


# --- configuration -----------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "url": "ws://localhost:1/",
    "symbols": {"EUR_USD": "EURUSD"},
    "mapping": {"instrument": "s", "bid": "b", "ask": "a", "time": "t"},
}


def test_config_defaults() -> None:
    config = msgspec.convert(MINIMAL, WebsocketFeedConfig)
    assert config.ping_interval_seconds == 20
    assert config.ping_timeout_seconds == 20
    assert config.stale_after_seconds == 30
    assert config.reconnect_initial_seconds == 0.5
    assert config.reconnect_max_seconds == 30
    assert config.mapping.time_format is TimeFormat.EPOCH_MS
    assert config.subscribe == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"colour": "red"}, "unknown field"),
        ({"mapping": {**MINIMAL["mapping"], "bidd": "b"}}, "unknown field"),
        ({"mapping": {**MINIMAL["mapping"], "time_format": "epoch_us"}}, "time_format"),
        ({"mapping": {**MINIMAL["mapping"], "bid": "x..y"}}, "empty segment"),
        ({"mapping": {**MINIMAL["mapping"], "filter_path": "type"}}, "go together"),
        ({"url": "http://example.com/"}, "url"),
        ({"symbols": {}}, "at least one"),
        ({"symbols": {"EUR_USD": "EURUSD", "EURUSD": "EURUSD"}}, "same vendor symbol"),
        ({"stale_after_seconds": 0}, "stale_after_seconds"),
        ({"reconnect_initial_seconds": 5, "reconnect_max_seconds": 1}, "reconnect_max"),
    ],
)
def test_config_rejects(change: dict[str, Any], words: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=words):
        msgspec.convert({**MINIMAL, **change}, WebsocketFeedConfig)


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        FLAT.url = "ws://elsewhere/"  # type: ignore[misc]


# --- backoff -----------------------------------------------------------------------------------


def test_backoff_full_jitter_is_bounded_and_seeded() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    for n, delay in enumerate(delays):
        assert 0.0 <= delay <= min(30.0, 0.5 * 2**n)
    again = random.Random(3)
    assert delays == [backoff_delay(n, 0.5, 30.0, again) for n in range(12)]
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0  # no overflow for long outages


# --- the feed's bookkeeping, without a socket ---------------------------------------------------


def test_feed_counts_and_stamps_with_its_clock() -> None:
    feed = WebsocketFeed(FLAT, clock=lambda: 99)
    batch = json.dumps([FLAT_QUOTE, {"type": "status"}, {**FLAT_QUOTE, "b": "x"}])
    quotes = feed._parse(batch)
    assert [q.ts_recv for q in quotes] == [99]
    assert (feed.received, feed.rejected, feed.ignored) == (1, 1, 1)
    feed._parse(b"garbage")
    assert feed.rejected == 2
    assert feed.latency is None


def test_feed_logs_rejections_with_a_sample(capsys: pytest.CaptureFixture[str]) -> None:
    from structlog.testing import capture_logs

    feed = WebsocketFeed(FLAT)
    with capture_logs() as logs:
        feed._parse("x" * 500)
    (event,) = logs
    assert event["event"] == "quote_rejected"
    assert event["reason"] == "bad_json"
    assert event["sample"] == "x" * 200
    assert event["log_level"] == "warning"


def test_feed_log_hides_the_url_query() -> None:
    from structlog.testing import capture_logs

    feed = WebsocketFeed(FLAT)
    with capture_logs() as logs:
        feed._parse("x")
    assert logs[0]["url"] == "wss://vendor.example/stream"


def test_parser_reuse_matches_parse_message() -> None:
    parser = QuoteParser(BATCHED)
    raw = json.dumps({"data": [BATCHED_QUOTE]})
    assert parser.parse(raw, 5) == parse_message(raw, BATCHED, 5)


NASTY: list[Any] = [None, True, 0, -1, 1.5, 10**30, 1e300, "", "x", "1e999999999", "nan"]
NASTY += ["-inf", "1.1", "1704700800123", "0001-01-01T00:00:00+01:00", "EURUSD", "quote"]
NASTY += [[], [1], {}, {"a": 1}]


@pytest.mark.parametrize("config", [FLAT, BATCHED], ids=["flat", "batched"])
def test_nothing_a_vendor_sends_makes_the_parser_raise(config: WebsocketFeedConfig) -> None:
    rng = random.Random(5)
    base = [FLAT_QUOTE, {"data": [BATCHED_QUOTE]}, {"data": BATCHED_QUOTE}]
    for _ in range(3000):
        message = json.loads(json.dumps(rng.choice(base)))
        target = message["data"][0] if isinstance(message.get("data"), list) else message
        for key in rng.sample(sorted(target), rng.randint(1, len(target))):
            target[key] = rng.choice(NASTY)
        result = parse_message(
            json.dumps(message)[: rng.choice([10_000, rng.randint(0, 80)])], config
        )
        for quote in result.quotes:
            assert 0 < quote.bid <= quote.ask


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "wss://user:pw@vendor.example:443/v1/stream?apikey=K",
            "wss://vendor.example:443/v1/stream",
        ),
        ("ws://[::1]:9000/q?token=T", "ws://[::1]:9000/q"),
    ],
)
def test_logged_url_has_no_credentials(url: str, shown: str) -> None:
    from algotrading.adapters.websocket_feed import _safe_url

    assert _safe_url(url) == shown
