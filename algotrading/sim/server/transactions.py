"""An account's v20 transaction log: ids are consecutive integers (as strings) from 1; the
transactions one request or one price creates form a batch that shares its ``batchID`` (the
first id) and its ``time``. Times are kept as RFC 3339 text, the form the log is stored in;
:func:`as_unix` rewrites a response for ``Accept-Datetime-Format: UNIX``."""

from __future__ import annotations

from typing import Any

from algotrading.adapters.oanda.wire import format_price, format_time, parse_time
from algotrading.messages import Quote

Transaction = dict[str, Any]

TIME_KEYS = frozenset(
    {
        "time",
        "gtdTime",
        "createTime",
        "filledTime",
        "cancelledTime",
        "triggeredTime",
        "openTime",
        "closeTime",
        "createdTime",
        "lastOrderFillTimestamp",
        "resettablePLTime",
    }
)
LIQUIDITY = 10_000_000  # the size shown at the touch; the engine fills any size there


class TransactionLog:
    def __init__(self, account_id: str, user_id: int, last_id: int = 0) -> None:
        self.account_id = account_id
        self.user_id = user_id
        self.last_id = last_id
        self.all: list[Transaction] = []
        self.unsaved: list[Transaction] = []

    def batch(self, ts_ns: int, request_id: str = "") -> Batch:
        return Batch(self, ts_ns, request_id)

    def since(self, last_seen: int) -> list[Transaction]:
        """Transactions with ids after ``last_seen``, oldest first."""
        start = max(0, last_seen)
        # ids are 1..N in order, so the list index of id n is n - 1
        return self.all[start:]

    def take_unsaved(self) -> list[Transaction]:
        out, self.unsaved = self.unsaved, []
        return out

    def load(self, transactions: list[Transaction]) -> None:
        self.all = list(transactions)
        self.last_id = int(transactions[-1]["id"]) if transactions else 0


class Batch:
    """The transactions of one request (or one price), as they are written."""

    def __init__(self, log: TransactionLog, ts_ns: int, request_id: str) -> None:
        self.log = log
        self.ts_ns = ts_ns
        self.time = format_time(ts_ns)
        self.request_id = request_id
        self.batch_id = ""
        self.transactions: list[Transaction] = []

    def next_id(self) -> str:
        return str(self.log.last_id + 1)

    def add(self, kind: str, fields: dict[str, Any]) -> Transaction:
        self.log.last_id += 1
        tx_id = str(self.log.last_id)
        self.batch_id = self.batch_id or tx_id
        tx: Transaction = {
            "id": tx_id,
            "time": self.time,
            "userID": self.log.user_id,
            "accountID": self.log.account_id,
            "batchID": self.batch_id,
        }
        if self.request_id:
            tx["requestID"] = self.request_id
        tx["type"] = kind
        tx.update(fields)
        self.transactions.append(tx)
        self.log.all.append(tx)
        self.log.unsaved.append(tx)
        return tx

    @property
    def ids(self) -> list[str]:
        return [tx["id"] for tx in self.transactions]


def client_price(quote: Quote, precision: int, *, tradeable: bool = True) -> dict[str, Any]:
    """A v20 ``ClientPrice`` (``type: PRICE``) of a quote."""
    bid, ask = format_price(quote.bid, precision), format_price(quote.ask, precision)
    return {
        "type": "PRICE",
        "instrument": quote.instrument,
        "time": format_time(quote.ts_event),
        "status": "tradeable" if tradeable else "non-tradeable",
        "tradeable": tradeable,
        "bids": [{"price": bid, "liquidity": LIQUIDITY}],
        "asks": [{"price": ask, "liquidity": LIQUIDITY}],
        "closeoutBid": bid,
        "closeoutAsk": ask,
    }


def format_factor(rate: float) -> str:
    """A home conversion factor, with the 8 decimals of the observed responses."""
    return f"{rate:.8f}"


def as_unix(value: Any) -> Any:
    """``value`` with every DateTime field rewritten as UNIX seconds."""
    if isinstance(value, dict):
        return {
            k: _unix_time(v) if k in TIME_KEYS and isinstance(v, str) else as_unix(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [as_unix(v) for v in value]
    return value


def _unix_time(text: str) -> str:
    return format_time(parse_time(text), unix=True)
