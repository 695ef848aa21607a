"""The v20 reject reasons the simulator gives, with the ``errorMessage`` the live server sends
with each: OANDA's own description of the reason (v20-java ``TransactionRejectReason``), as
the reference says the live server does."""

from __future__ import annotations

REJECT_MESSAGES = {
    "INTERNAL_SERVER_ERROR": "An unexpected internal server error has occurred",
    "INSTRUMENT_PRICE_UNKNOWN": "The system was unable to determine the current price for the "
    "Order's instrument",
    "INSUFFICIENT_MARGIN": "The Account had insufficient margin to perform the action specified. "
    "One possible reason for this is due to the creation or modification of a guaranteed "
    "StopLoss Order.",
    "INSTRUMENT_MISSING": "Order instrument has not been specified",
    "INSTRUMENT_UNKNOWN": "The instrument specified is unknown",
    "UNITS_MISSING": "Order units have not been not specified",
    "UNITS_INVALID": "Order units specified are invalid",
    "UNITS_PRECISION_EXCEEDED": "The units specified contain more precision than is allowed for "
    "the Order's instrument",
    "UNITS_LIMIT_EXCEEDED": "The units specified exceeds the maximum number of units allowed",
    "UNITS_MIMIMUM_NOT_MET": "The units specified is less than the minimum number of units "
    "required",
    "PRICE_MISSING": "The price has not been specified",
    "PRICE_INVALID": "The price specifed is invalid",
    "PRICE_PRECISION_EXCEEDED": "The price specified contains more precision than is allowed for "
    "the instrument",
    "PRICE_DISTANCE_MISSING": "The price distance has not been specified",
    "PRICE_DISTANCE_INVALID": "The price distance specifed is invalid",
    "PRICE_DISTANCE_PRECISION_EXCEEDED": "The price distance specified contains more precision "
    "than is allowed for the instrument",
    "PRICE_DISTANCE_MINIMUM_NOT_MET": "The price distance does not meet the minimum allowed amount",
    "PRICE_DISTANCE_MAXIMUM_EXCEEDED": "The price distance exceeds that maximum allowed amount",
    "TIME_IN_FORCE_INVALID": "The TimeInForce specified is invalid",
    "TIME_IN_FORCE_GTD_TIMESTAMP_MISSING": "The TimeInForce is GTD but no GTD timestamp is "
    "provided",
    "TIME_IN_FORCE_GTD_TIMESTAMP_IN_PAST": "The TimeInForce is GTD but the GTD timestamp is in the "
    "past",
    "PRICE_BOUND_INVALID": "The price bound specified is invalid",
    "PRICE_BOUND_PRECISION_EXCEEDED": "The price bound specified contains more precision than is "
    "allowed for the Order's instrument",
    "CLIENT_ORDER_ID_INVALID": "The client Order ID specified is invalid",
    "CLIENT_ORDER_ID_ALREADY_EXISTS": "The client Order ID specified is already assigned to "
    "another pending Order",
    "CLIENT_ORDER_TAG_INVALID": "The client Order tag specified is invalid",
    "CLIENT_ORDER_COMMENT_INVALID": "The client Order comment specified is invalid",
    "CLIENT_TRADE_ID_INVALID": "The client Trade ID specified is invalid",
    "CLIENT_TRADE_ID_ALREADY_EXISTS": "The client Trade ID specifed is already assigned to "
    "another open Trade",
    "CLIENT_TRADE_TAG_INVALID": "The client Trade tag specified is invalid",
    "CLIENT_TRADE_COMMENT_INVALID": "The client Trade comment is invalid",
    "ORDER_FILL_POSITION_ACTION_INVALID": "The OrderFillPositionAction specified is invalid",
    "TRIGGER_CONDITION_INVALID": "The TriggerCondition specified is invalid",
    "TRADE_DOESNT_EXIST": "The Trade specified does not exist",
    "TAKE_PROFIT_ORDER_ALREADY_EXISTS": "A Take Profit Order for the specified Trade already "
    "exists",
    "STOP_LOSS_ORDER_ALREADY_EXISTS": "A Stop Loss Order for the specified Trade already exists",
    "TRAILING_STOP_LOSS_ORDER_ALREADY_EXISTS": "A Trailing Stop Loss Order for the specified "
    "Trade already exists",
    "STOP_LOSS_ORDER_PRICE_AND_DISTANCE_BOTH_SPECIFIED": "The Stop Loss Order request contains "
    "both the price and distance fields.",
    "STOP_LOSS_ORDER_PRICE_AND_DISTANCE_BOTH_MISSING": "The Stop Loss Order request contains "
    "neither the price nor distance fields.",
    "STOP_LOSS_ORDER_GUARANTEED_NOT_ALLOWED": "An attempt was made to create a guaranteed Stop "
    "Loss Order, however the Account's configuration does not allow guaranteed Stop Loss Orders.",
    "REPLACING_ORDER_INVALID": "The Order to be replaced has a different type than the replacing "
    "Order.",
    "REPLACING_TRADE_ID_INVALID": "The replacing Order refers to a different Trade than the "
    "Order that is being replaced.",
    "CLOSE_TRADE_UNITS_EXCEED_TRADE_SIZE": "The request to partially close a Trade specifies a "
    "number of units that exceeds the current size of the given Trade",
    "CLOSEOUT_POSITION_DOESNT_EXIST": "The Position requested to be closed out does not exist",
    "CLOSEOUT_POSITION_INCOMPLETE_SPECIFICATION": "The request to closeout a Position was "
    "specified incompletely",
    "CLOSEOUT_POSITION_UNITS_EXCEED_POSITION_SIZE": "A partial Position closeout request "
    "specifies a number of units that exceeds the current Position",
}
_ON_FILL_TEXT = {
    "TAKE_PROFIT_ON_FILL": "Take Profit on fill",
    "STOP_LOSS_ON_FILL": "Stop Loss on fill",
    "TRAILING_STOP_LOSS_ON_FILL": "Trailing Stop Loss on fill",
}


def reject_message(reason: str) -> str:
    if reason in REJECT_MESSAGES:
        return REJECT_MESSAGES[reason]
    for prefix, text in _ON_FILL_TEXT.items():
        if reason.startswith(prefix):
            detail = reason[len(prefix) + 1 :].lower().replace("_", " ")
            return f"The {text} specified is invalid ({detail})"
    return reason.replace("_", " ").capitalize()
