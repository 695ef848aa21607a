"""Opening an OANDA (or sim-exchange server) account for the daemon: the client, the account,
where its transactions stand, and what it holds — the venue is the truth at the start."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from algotrading.adapters.oanda.client import OandaClient, V20Error
from algotrading.adapters.oanda.mapping import SentOrders
from algotrading.adapters.oanda.wire import LIVE, PRACTICE, parse_decimal, parse_time
from algotrading.config import OandaConfig, load_secrets
from algotrading.errors import (
    AlgotradingError,
    ConfigError,
    CredentialsRefusedError,
    VenueUnavailableError,
)
from algotrading.sim.accounting import PositionState


@dataclass
class OandaAccount:
    client: OandaClient
    account_id: str
    currency: str
    sent: SentOrders
    positions: dict[str, PositionState]
    now_ns: int  # the venue's clock at the start (a simulated venue may replay another time)


def urls(config: OandaConfig) -> tuple[str, str]:
    if config.environment == "practice":
        return PRACTICE
    if config.environment == "live":
        return LIVE
    return config.rest_url, config.stream_url or config.rest_url


async def open_account(
    config: OandaConfig, instrument: str, env_file: str | None = None
) -> OandaAccount:
    token = load_secrets(env_file).get("oanda_token")
    if not token:
        raise ConfigError(
            "environment", "ALGOTRADING_OANDA_TOKEN", "the OANDA token is not set (env or .env)"
        )
    rest, stream = urls(config)
    client = OandaClient(
        rest,
        stream,
        config.account_id,
        token,
        requests_per_second=config.requests_per_second,
        timeout_s=config.timeout_seconds,
    )
    try:
        if not client.account_id:
            accounts = await client.accounts()
            if not accounts:
                raise ConfigError(
                    "system.yaml", "venue.oanda.account_id", "the token sees no account"
                )
            client.account_id = str(accounts[0]["id"])
        summary = await client.summary()
        now_ns = parse_time(await client.server_time(instrument))
        sent = SentOrders(last_id=str(summary.get("lastTransactionID", "0")))
        positions = await venue_positions(client)
    except BaseException as exc:
        await client.close()
        refusal = _start_error(rest, exc)
        if refusal is not None:
            raise refusal from None  # one line for the operator; the cause is in the message
        raise
    return OandaAccount(
        client, client.account_id, str(summary.get("currency", "USD")), sent, positions, now_ns
    )


async def venue_positions(client: OandaClient) -> dict[str, PositionState]:
    """The account's open positions, net per instrument, with their average prices."""
    return (await positions_at(client))[0]


async def positions_at(client: OandaClient) -> tuple[dict[str, PositionState], str]:
    """The account's open positions (net per instrument, with their average prices) and the
    last transaction id they include."""
    raw, last = await client.open_positions_at()
    positions = {}
    for p in raw:
        long_units = parse_decimal(p["long"]["units"], "long.units")
        short_units = parse_decimal(p["short"]["units"], "short.units")
        side = p["long"] if long_units else p["short"]
        quantity = long_units + short_units
        if quantity:
            price = parse_decimal(side.get("averagePrice", "0"), "averagePrice")
            positions[str(p["instrument"])] = PositionState(quantity, price)
    return positions, last


def _start_error(rest: str, exc: BaseException) -> AlgotradingError | None:
    """What stops a start at the venue, as the error whose exit status says whether a restart
    can help: unreachable or failing (69, restarted) or refusing the token (78, left stopped)."""
    if isinstance(exc, V20Error) and exc.status in (401, 403):
        return CredentialsRefusedError(
            f"{rest}: the venue refused the credentials (HTTP {exc.status} {exc.code}): check "
            "ALGOTRADING_OANDA_TOKEN and venue.oanda.account_id (a practice token on the live "
            "environment, or the reverse, is refused too)"
        )
    if isinstance(exc, V20Error) and exc.status >= 500:
        return VenueUnavailableError(
            f"{rest}: the venue answers HTTP {exc.status} {exc.code}; the daemon stops and is "
            "started again (systemd) once it may answer"
        )
    if isinstance(exc, aiohttp.ClientConnectionError | TimeoutError | OSError):
        reason = type(exc).__name__ if isinstance(exc, TimeoutError) else str(exc)
        return VenueUnavailableError(
            f"{rest}: cannot reach the venue ({reason or type(exc).__name__}): check the network "
            "and venue.oanda in system.yaml; under systemd the daemon is started again"
        )
    return None
