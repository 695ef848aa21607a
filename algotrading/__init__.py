"""algotrading: a supervised-actor trading daemon for forex and index CFDs."""

__version__ = "0.1.0"
