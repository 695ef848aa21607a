"""The simulated exchange as a server that speaks the subset of OANDA's v20 REST + streaming
protocol in ``docs/adapters/oanda-v20-subset.md``, so a v20 client works against it unchanged
but for the host name. Pure account logic (``accounts``, ``order_requests``, ``trades``,
``transactions``, ``candles``) is separate from the aiohttp shell (``app``, ``rest``,
``streams``, ``faults``), the market feed (``market``) and persistence (``store``).
"""

# How a client reaches a local server (the command's defaults): the token comes from the
# environment; the default is for local use only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "ALGOTRADING_SIM_TOKEN"
DEFAULT_TOKEN = "sim-token"
