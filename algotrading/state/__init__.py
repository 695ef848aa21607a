"""Durable state: the SQLite store (journal, orders, fills, positions, snapshots)."""
