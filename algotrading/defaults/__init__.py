"""Embedded default configuration (the same files as the repository's config/)."""
