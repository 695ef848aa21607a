"""Operator alerts over Telegram and Slack: what the daemon tells a person, and how it gets
there without ever slowing the trading path.

- :mod:`.config`: ``AlertsConfig`` (``system.yaml`` key ``alerts``) and
  ``check_alerts_config``, which resolves the secrets from the environment;
- :mod:`.transports`: one aiohttp session per chat service, answers classified as sent,
  worth retrying, or refused;
- :mod:`.dispatcher`: levels, deduplication, a token bucket and a bounded queue per
  destination, retries with backoff, a bounded flush on stop;
- :mod:`.texts`: the one-line texts, from messages (pure functions);
- :mod:`.commands`: optional read-only Telegram commands by long polling;
- :mod:`.service`: ``AlertService``, the daemon service that ties them together.

This module imports nothing, so that ``algotrading.config`` can import the configuration
schema without pulling in aiohttp.
"""
