from algotrading.messages import OrderIntent, Side, TradingState
from algotrading.risk.checks import RiskLimits, check_order

LIMITS = RiskLimits(max_order_quantity=1000, max_position_quantity=1500)


def intent(side: Side, qty: float) -> OrderIntent:
    return OrderIntent(ts_event=0, strategy_id="s", instrument="EUR_USD", side=side, quantity=qty)


def code(side, qty, position=0.0, state=TradingState.ACTIVE):
    refusal = check_order(intent(side, qty), position, LIMITS, state)
    return None if refusal is None else refusal.code


def test_order_size_limit_at_its_edge():
    assert code(Side.BUY, 1000) is None
    assert code(Side.BUY, 1000.01) == "max_order_quantity"


def test_position_limit_counts_what_is_already_held():
    assert code(Side.BUY, 500, position=1000) is None
    assert code(Side.BUY, 501, position=1000) == "max_position_quantity"
    assert code(Side.SELL, 1000, position=-600) == "max_position_quantity"
    assert code(Side.SELL, 1000, position=2000) is None  # reducing is always allowed


def test_trading_states():
    assert code(Side.BUY, 1, state=TradingState.HALTED) == "halted"
    assert code(Side.BUY, 1, position=10, state=TradingState.REDUCING) == "reducing_only"
    assert code(Side.SELL, 10, position=10, state=TradingState.REDUCING) is None
    assert code(Side.SELL, 11, position=10, state=TradingState.REDUCING) == "reducing_only"


def test_refusal_reason_names_the_limit():
    refusal = check_order(intent(Side.BUY, 2000), 0, LIMITS, TradingState.ACTIVE)
    assert refusal is not None
    assert "1000" in refusal.reason
