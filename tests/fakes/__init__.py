"""Stand-ins for outside services that tests run on 127.0.0.1 (importable as ``tests.fakes``
when pytest runs from the repository root, as ``python -m pytest`` does)."""
