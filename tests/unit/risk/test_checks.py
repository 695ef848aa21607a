import msgspec

from algotrading.messages import OrderIntent, Side, TradingState
from algotrading.risk.checks import RiskLimits, check_order

LIMITS = RiskLimits(max_order_quantity=1000, max_position_quantity=1500)


def intent(side: Side, qty: float) -> OrderIntent:
    return OrderIntent(ts_event=0, strategy_id="s", instrument="EUR_USD", side=side, quantity=qty)


def code(side, qty, position=0.0, state=TradingState.ACTIVE):
    refusal = check_order(intent(side, qty), position, LIMITS, state)
    return None if refusal is None else refusal.code


def test_order_size_limit_at_its_edge():
    assert code(Side.BUY, 999) is None
    assert code(Side.BUY, 1000) == "max_order_quantity"  # reaching the limit is refused
    assert code(Side.BUY, 1000.01) == "max_order_quantity"


def test_position_limit_counts_what_is_already_held():
    assert code(Side.BUY, 499, position=1000) is None
    assert code(Side.BUY, 500, position=1000) == "max_position_quantity"
    assert code(Side.SELL, 900, position=-600) == "max_position_quantity"
    assert code(Side.SELL, 999, position=2000) is None  # reducing is always allowed


def test_trading_states():
    assert code(Side.BUY, 1, state=TradingState.HALTED) == "halted"
    assert code(Side.BUY, 1, position=10, state=TradingState.REDUCING) == "reducing_only"
    assert code(Side.SELL, 10, position=10, state=TradingState.REDUCING) is None
    assert code(Side.SELL, 11, position=10, state=TradingState.REDUCING) == "reducing_only"


def test_refusal_reason_names_the_limit():
    refusal = check_order(intent(Side.BUY, 2000), 0, LIMITS, TradingState.ACTIVE)
    assert refusal is not None
    assert "1000" in refusal.reason


# --- checks that need the market ---------------------------------------------------------------

from algotrading.risk.checks import Market  # noqa: E402


def market_code(limits: RiskLimits, qty: float, position: float = 0.0, **market) -> str | None:
    refusal = check_order(
        intent(Side.BUY, qty), position, limits, TradingState.ACTIVE, Market(**market)
    )
    return None if refusal is None else refusal.code


def test_order_notional_at_its_edge():
    limits = RiskLimits(max_order_notional=11_000)
    assert market_code(limits, 9_999, price=1.1) is None
    assert market_code(limits, 10_000, price=1.1) == "max_order_notional"  # 11 000 exactly
    assert market_code(limits, 10_001, price=1.1) == "max_order_notional"


def test_gross_and_net_exposure_include_other_instruments():
    gross = RiskLimits(max_gross_exposure=30_000)
    others = {"GBP_USD": -19_000.0}
    assert market_code(gross, 9_999, price=1.1, values=others) is None
    assert market_code(gross, 10_000, price=1.1, values=others) == "max_gross_exposure"  # 30 000
    net = RiskLimits(max_net_exposure=5_000)
    assert market_code(net, 20_000, price=1.1, values=others) is None  # |22 000 - 19 000|
    assert market_code(net, 21_818, price=1.1, values=others) is None  # 4 999.8
    assert market_code(net, 21_819, price=1.1, values=others) == "max_net_exposure"


def test_exposure_limits_never_block_a_reduction():
    limits = RiskLimits(max_gross_exposure=1.0)
    refusal = check_order(
        intent(Side.SELL, 500), 1_000, limits, TradingState.ACTIVE, Market(price=1.1)
    )
    assert refusal is None


def test_currency_exposure_nets_across_pairs():
    limits = RiskLimits(max_currency_exposure=12_000)
    pairs = {"EUR_USD": ("EUR", "USD"), "GBP_USD": ("GBP", "USD")}
    # long 11 000 USD of EUR and long 2 000 of GBP: short 13 000 USD
    code = market_code(limits, 10_000, price=1.1, values={"GBP_USD": 2_000.0}, currencies=pairs)
    assert code == "max_currency_exposure"
    at = market_code(limits, 10_000, price=1.1, values={"GBP_USD": 1_000.0}, currencies=pairs)
    assert at == "max_currency_exposure"  # short 12 000 USD exactly
    ok = market_code(limits, 10_000, price=1.1, values={"GBP_USD": 999.0}, currencies=pairs)
    assert ok is None


def test_open_orders_and_rate_at_their_edges():
    assert market_code(RiskLimits(max_open_orders=3), 1, open_orders=2) is None
    assert market_code(RiskLimits(max_open_orders=3), 1, open_orders=3) == "max_open_orders"
    rate = RiskLimits(max_orders_per_window=5, rate_window_seconds=1)
    assert market_code(rate, 1, recent_orders=4) is None
    assert market_code(rate, 1, recent_orders=5) == "order_rate"


def test_price_collar():
    limits = RiskLimits(price_collar=0.01)
    near = OrderIntent(
        ts_event=0,
        strategy_id="s",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=1,
        order_type="LIMIT",
        limit_price=1.089,
    )
    inside = msgspec.structs.replace(near, limit_price=1.0891)
    far = msgspec.structs.replace(near, limit_price=1.0889)
    state = TradingState.ACTIVE
    assert check_order(inside, 0, limits, state, Market(price=1.1)) is None  # 0.99 %
    at = check_order(near, 0, limits, state, Market(price=1.1))  # exactly 1 %, to the last bit
    assert at is not None
    assert at.code == "price_collar"
    refusal = check_order(far, 0, limits, state, Market(price=1.1))
    assert refusal is not None
    assert refusal.code == "price_collar"
    assert "1.00%" in refusal.reason
