"""Saving and loading models with their metadata, and checking that what is loaded is what was
saved (the content hash).

The hash covers the artifact files and the metadata except ``model_id``, ``created`` and the
hash itself, so the same model trained twice from the same data, parameters and seed has the
same hash — and the id ``<kind>-<first 12 hex digits>`` names the content.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import msgspec

from algotrading.errors import DataError
from algotrading.models.base import METADATA_FILE, Model, ModelMetadata


def library_versions(kind: str) -> dict[str, str]:
    names = ["numpy", "algotrading"]
    names += {"lightgbm": ["lightgbm"], "lstm": ["torch"], "gru": ["torch"]}.get(
        kind, ["lightgbm", "torch"]
    )
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


_ADDED_LATER = ("instrument", "bar_interval_ns")


def misfit(
    metadata: ModelMetadata,
    instruments: tuple[str, ...],
    bar_interval_ns: int,
    feature_specs: tuple[str, ...],
) -> str | None:
    """Why a model cannot serve a session trading ``instruments`` on bars of
    ``bar_interval_ns`` with the configured ``feature_specs`` (empty: any), or None when it
    can. A model records what it was trained on; one saved before that is not checked."""
    from algotrading.config import format_duration_ns

    trained = metadata.instrument or "an unrecorded instrument"
    if metadata.bar_interval_ns:
        trained += f" {format_duration_ns(metadata.bar_interval_ns)} bars"
    session = f"{', '.join(instruments)} {format_duration_ns(bar_interval_ns)} bars"
    name = f"model {metadata.model_id}"
    wrong_instrument = metadata.instrument and metadata.instrument not in instruments
    wrong_interval = metadata.bar_interval_ns and metadata.bar_interval_ns != bar_interval_ns
    if wrong_instrument or wrong_interval:
        return f"{name} was trained on {trained}; this session trades {session}"
    if feature_specs and tuple(feature_specs) != tuple(metadata.feature_specs):
        return (
            f"{name} computes the features {list(metadata.feature_specs)}; model.yaml names "
            f"{list(feature_specs)}"
        )
    return None


def content_hash(directory: Path, files: list[str], metadata: ModelMetadata) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update((directory / name).read_bytes())
    described = msgspec.to_builtins(
        msgspec.structs.replace(metadata, model_id="", created="", content_hash="")
    )
    for key in _ADDED_LATER:  # absent from the hash of a model saved before they were recorded
        if not described[key]:
            del described[key]
    digest.update(json.dumps(described, sort_keys=True).encode())
    return digest.hexdigest()


def _artifact_files(directory: Path) -> list[str]:
    """Every file of the model (an ensemble's members' included) but its own description."""
    own = directory / METADATA_FILE
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p != own
    )


def save_model(
    model: Model,
    directory: Path,
    *,
    features: tuple[str, ...],
    feature_specs: tuple[str, ...] = (),
    label: str,
    train_start: str,
    train_end: str,
    validation: dict[str, float],
    instrument: str = "",
    bar_interval_ns: int = 0,
) -> ModelMetadata:
    """Write ``model`` and its ``model.json`` into ``directory`` (created); return the metadata,
    hash and id filled in."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_artifacts(directory)
    metadata = ModelMetadata(
        model_id="",
        kind=model.kind,
        task=model.task,
        features=tuple(features),
        feature_specs=tuple(feature_specs),
        instrument=instrument,
        bar_interval_ns=bar_interval_ns,
        window=model.window,
        params=model.params(),
        label=label,
        train_start=train_start,
        train_end=train_end,
        validation={k: float(v) for k, v in sorted(validation.items())},
        versions=library_versions(model.kind),
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    digest = content_hash(directory, _artifact_files(directory), metadata)
    metadata = msgspec.structs.replace(
        metadata, content_hash=digest, model_id=f"{model.kind}-{digest[:12]}"
    )
    (directory / METADATA_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(metadata)))
    return metadata


def read_metadata(directory: Path) -> ModelMetadata:
    path = directory / METADATA_FILE
    try:
        return msgspec.json.decode(path.read_bytes(), type=ModelMetadata)
    except FileNotFoundError:
        raise DataError(str(path), "no model here (model.json is missing)") from None
    except msgspec.ValidationError as exc:
        raise DataError(str(path), f"not a model description: {exc}") from None


def load_model(directory: Path) -> tuple[Model, ModelMetadata]:
    """The model saved in ``directory`` and its metadata; refuses one whose files or description
    changed since it was saved."""
    metadata = read_metadata(directory)
    actual = content_hash(directory, _artifact_files(directory), metadata)
    if actual != metadata.content_hash:
        raise DataError(
            str(directory / METADATA_FILE),
            f"content hash mismatch: saved {metadata.content_hash[:12]}, found {actual[:12]} "
            "(the model's files changed since it was saved)",
        )
    return build_loaded(metadata.kind, directory, metadata.params), metadata


def build_loaded(kind: str, directory: Path, params: dict[str, Any]) -> Model:
    if kind == "lightgbm":
        from algotrading.models.gbdt import GbdtModel

        return GbdtModel.load(directory, params)
    if kind in ("lstm", "gru"):
        from algotrading.models.sequence import SequenceModel

        return SequenceModel.load(directory)  # type: ignore[no-any-return,unused-ignore]
    if kind == "ensemble":
        from algotrading.models.ensemble import EnsembleModel

        return EnsembleModel.load(directory, params)
    raise DataError(str(directory / METADATA_FILE), f"unknown model kind {kind!r}")


def member_directory(directory: Path, index: int) -> Path:
    return directory / f"member{index}"


def save_member(model: Model, directory: Path) -> list[str]:
    """An ensemble member's files, in its own folder of the ensemble's directory."""
    directory.mkdir(parents=True, exist_ok=True)
    return [f"{directory.name}/{name}" for name in model.save_artifacts(directory)]
