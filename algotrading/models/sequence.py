"""LSTM and GRU models: each prediction reads the ``window`` feature rows ending at a bar.

Torch is imported only inside the functions that need it, so importing this module (and so the
daemon, the backtester, a LightGBM-only setup) never pays torch's import time.

Decisions, in one place:

- Features are standardised with the training rows' mean and std (a constant column's std is
  taken as 1), stored with the model, so live rows are scaled exactly as the training rows were.
- The net runs in float32 on both paths, batch (:meth:`SequenceModel.predict`) and live
  (:meth:`SequenceModel.predict_last`); they agree to float32 rounding, not bit for bit, because
  a batch of one may take a different kernel than a batch of many.
- The validation rows are their own contiguous block: their sequences are built from them
  alone, so no validation prediction reads a training row (the first ``window - 1`` validation
  rows only serve as history).
- Training draws its randomness (initial weights, dropout, shuffling) from ``seed`` inside
  :func:`torch.random.fork_rng`, so a fit is reproducible on CPU and leaves the caller's global
  torch RNG as it was. On CUDA, cuDNN's recurrent kernels need not be bit-reproducible.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algotrading.models.base import TASKS, Matrix, Vector

if TYPE_CHECKING:
    import torch

KINDS = ("lstm", "gru")
WEIGHTS_FILE = "weights.pt"
DESCRIPTION_FILE = "sequence.json"
PREDICT_BATCH = 4096  # sequences per forward pass in predict(); only memory depends on it
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")

EpochCallback = Callable[[int, float, float], None]


class SequenceModel:
    """A recurrent net (LSTM or GRU) over the last ``window`` rows, a linear head on its last
    hidden state; one output: a logit (classification) or the expected value (regression)."""

    def __init__(
        self,
        kind: str = "lstm",
        task: str = "classification",
        window: int = 32,
        hidden: int = 32,
        layers: int = 1,
        dropout: float = 0.0,
        epochs: int = 50,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        patience: int = 5,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        _require(kind in KINDS, "kind", f"one of {KINDS}", kind)
        _require(task in TASKS, "task", f"one of {TASKS}", task)
        for name, value in (
            ("window", window),
            ("hidden", hidden),
            ("layers", layers),
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("patience", patience),
        ):
            is_int = isinstance(value, int) and not isinstance(value, bool)
            _require(is_int and value >= 1, name, "an integer >= 1", value)
        _require(
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
            "seed",
            "an integer >= 0",
            seed,
        )
        _require(_is_real(dropout) and 0.0 <= dropout < 1.0, "dropout", "in [0, 1)", dropout)
        _require(
            _is_real(learning_rate) and math.isfinite(learning_rate) and learning_rate > 0,
            "learning_rate",
            "a finite number > 0",
            learning_rate,
        )
        _require(
            isinstance(device, str) and _DEVICE.fullmatch(device) is not None,
            "device",
            "'auto', 'cpu', 'cuda' or 'cuda:N'",
            device,
        )
        self.kind = kind
        self.task = task
        self.window = window
        self.hidden = hidden
        self.layers = layers
        self.dropout = float(dropout)
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = float(learning_rate)
        self.patience = patience
        self.seed = seed
        self.device = device
        self._net: Any = None  # torch.nn.Module once fitted or loaded
        self._mean: Vector | None = None
        self._std: Vector | None = None

    def params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "window": self.window,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "patience": self.patience,
            "seed": self.seed,
            "device": self.device,
        }

    # -- training ----------------------------------------------------------------------------

    def fit(
        self,
        x: Matrix,
        y: Vector,
        x_valid: Matrix,
        y_valid: Vector,
        *,
        on_epoch: EpochCallback | None = None,
    ) -> dict[str, float]:
        """Train with Adam, stop after ``patience`` epochs without a lower validation loss and
        keep the best epoch's weights. Returns ``best_epoch`` (1-based), ``epochs`` (run),
        ``valid_loss`` and, for classification, ``valid_accuracy``."""
        import torch

        x, y = self._checked_rows(x, y, "x", "y")
        x_valid, y_valid = self._checked_rows(x_valid, y_valid, "x_valid", "y_valid")
        if x_valid.shape[1] != x.shape[1]:
            raise ValueError(f"x_valid: {x_valid.shape[1]} columns, x has {x.shape[1]}")
        self._mean = x.mean(axis=0)
        std = x.std(axis=0)
        self._std = np.where(std > 0, std, 1.0)
        device = _resolve_device(self.device)
        rows = self._to_tensor(x, device)
        valid_rows = self._to_tensor(x_valid, device)
        targets = torch.from_numpy(y.astype(np.float32)).to(device)
        valid_targets = torch.from_numpy(y_valid[self.window - 1 :].astype(np.float32)).to(device)
        loss_fn: Any = (
            torch.nn.BCEWithLogitsLoss() if self.task == "classification" else torch.nn.MSELoss()
        )

        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(self.seed)
            net = _build_network(self.kind, x.shape[1], self.hidden, self.layers, self.dropout)
            net = net.to(device)
            shuffle = torch.Generator().manual_seed(self.seed)
            optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
            ends = torch.arange(self.window - 1, len(x), device=device)
            best_loss, best_epoch, best_state, epoch = math.inf, 0, None, 0
            for epoch in range(1, self.epochs + 1):
                order = torch.randperm(len(ends), generator=shuffle).to(device)
                train_loss = self._train_epoch(net, optimiser, loss_fn, rows, targets, ends[order])
                self._net = net
                valid_loss = float(loss_fn(self._outputs(valid_rows), valid_targets).item())
                if on_epoch is not None:
                    on_epoch(epoch, train_loss, valid_loss)
                if valid_loss < best_loss:
                    best_loss, best_epoch = valid_loss, epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                elif epoch - best_epoch >= self.patience:
                    break
        if best_state is None:
            raise FloatingPointError("SequenceModel: validation loss never finite; lower the rate")
        net.load_state_dict(best_state)
        net.eval()
        self._net = net
        metrics = {"best_epoch": float(best_epoch), "epochs": float(epoch)}
        valid_out = self._outputs(valid_rows)
        metrics["valid_loss"] = float(loss_fn(valid_out, valid_targets).item())
        if self.task == "classification":
            hits = (valid_out > 0).float() == valid_targets
            metrics["valid_accuracy"] = float(hits.double().mean().item())
        return metrics

    def _train_epoch(
        self,
        net: Any,
        optimiser: Any,
        loss_fn: Any,
        rows: torch.Tensor,
        targets: torch.Tensor,
        shuffled_ends: torch.Tensor,
    ) -> float:
        """One pass over the training windows in the given order; the mean training loss."""
        net.train()
        total = 0.0
        for start in range(0, len(shuffled_ends), self.batch_size):
            ends = shuffled_ends[start : start + self.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(net(self._windows(rows, ends)), targets[ends])
            loss.backward()
            optimiser.step()
            total += float(loss.item()) * len(ends)
        return total / len(shuffled_ends)

    def _checked_rows(
        self, x: Matrix, y: Vector, x_name: str, y_name: str
    ) -> tuple[Matrix, Vector]:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.shape != (len(x),):
            raise ValueError(f"{x_name}, {y_name}: shapes {x.shape}, {y.shape}; want (n, k), (n,)")
        if len(x) < self.window:
            raise ValueError(f"{x_name}: {len(x)} rows, fewer than window={self.window}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"{x_name}, {y_name}: NaN or infinite values")
        if self.task == "classification" and not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"{y_name}: classification labels must be 0 or 1")
        return x, y

    # -- prediction --------------------------------------------------------------------------

    def predict(self, x: Matrix) -> Vector:
        """One prediction per row; NaN for the first ``window - 1`` rows, which lack a full
        window of history."""
        import torch

        x = self._checked_features(x, "x")
        out = np.full(len(x), np.nan)
        if len(x) >= self.window:
            device = next(self._net.parameters()).device
            with torch.inference_mode():
                values = self._outputs(self._to_tensor(x, device))
                if self.task == "classification":
                    values = torch.sigmoid(values)
            out[self.window - 1 :] = values.cpu().numpy()
        return out

    def predict_last(self, window_rows: Matrix) -> float:
        """The prediction for the last of exactly ``window`` rows: the live path, one bar at a
        time. Equals ``predict(x)[t]`` for the same rows, to float32 rounding."""
        import torch

        rows = self._checked_features(window_rows, "window_rows")
        if len(rows) != self.window:
            raise ValueError(f"window_rows: {len(rows)} rows, want exactly window={self.window}")
        device = next(self._net.parameters()).device
        with torch.inference_mode():
            value = self._net(self._to_tensor(rows, device).unsqueeze(0))
            if self.task == "classification":
                value = torch.sigmoid(value)
            return float(value.item())

    def _checked_features(self, x: Matrix, name: str) -> Matrix:
        if self._net is None or self._mean is None:
            raise RuntimeError("SequenceModel: fit or load it before predicting")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self._mean):
            raise ValueError(f"{name}: shape {x.shape}, want (n, {len(self._mean)})")
        return x

    def _to_tensor(self, x: Matrix, device: torch.device) -> torch.Tensor:
        """Standardised rows as float32, the net's precision on every path."""
        import torch

        assert self._mean is not None, "set by fit or load"
        assert self._std is not None, "set by fit or load"
        scaled = ((x - self._mean) / self._std).astype(np.float32)
        return torch.from_numpy(scaled).to(device)

    def _windows(self, rows: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """``(len(ends), window, k)``: the rows ending at each index, gathered per batch so the
        overlapping windows are never all held in memory at once."""
        import torch

        offsets = torch.arange(1 - self.window, 1, device=rows.device)
        return rows[ends.unsqueeze(1) + offsets]

    def _outputs(self, rows: torch.Tensor) -> torch.Tensor:
        """Raw net outputs (logits or values) for every full window in ``rows``, in eval mode."""
        import torch

        self._net.eval()
        ends = torch.arange(self.window - 1, len(rows), device=rows.device)
        with torch.no_grad():
            parts = [
                self._net(self._windows(rows, ends[start : start + PREDICT_BATCH]))
                for start in range(0, len(ends), PREDICT_BATCH)
            ]
        return torch.cat(parts)

    # -- files -------------------------------------------------------------------------------

    def save_artifacts(self, directory: Path) -> list[str]:
        """``weights.pt`` (the state dict, on CPU) and ``sequence.json`` (params, scaler, input
        size)."""
        import torch

        if self._net is None or self._mean is None or self._std is None:
            raise RuntimeError("SequenceModel: nothing to save before fit")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self._net.state_dict().items()}
        torch.save(state, directory / WEIGHTS_FILE)
        description = {
            "params": self.params(),
            "input_size": len(self._mean),
            "feature_mean": self._mean.tolist(),
            "feature_std": self._std.tolist(),
        }
        text = json.dumps(description, indent=2, sort_keys=True) + "\n"
        (directory / DESCRIPTION_FILE).write_text(text)
        return [WEIGHTS_FILE, DESCRIPTION_FILE]

    @classmethod
    def load(cls, directory: Path, *, device: str | None = None) -> SequenceModel:
        """A model saved by :meth:`save_artifacts`. ``device`` overrides the saved one, e.g. to
        run a model trained on a GPU on a machine without one."""
        import torch

        directory = Path(directory)
        description = json.loads((directory / DESCRIPTION_FILE).read_text())
        params = dict(description["params"])
        if device is not None:
            params["device"] = device
        model = cls(**params)
        model._mean = np.asarray(description["feature_mean"], dtype=np.float64)
        model._std = np.asarray(description["feature_std"], dtype=np.float64)
        target = _resolve_device(model.device)
        state = torch.load(directory / WEIGHTS_FILE, map_location=target, weights_only=True)
        net = _build_network(
            model.kind, int(description["input_size"]), model.hidden, model.layers, model.dropout
        )
        net.load_state_dict(state)
        model._net = net.to(target).eval()
        return model


def _build_network(kind: str, inputs: int, hidden: int, layers: int, dropout: float) -> Any:
    """The recurrent layers, dropout on the last hidden state, a linear head. Dropout also goes
    between stacked layers (torch applies it there only when ``layers > 1``)."""
    from torch import nn

    recurrent = nn.LSTM if kind == "lstm" else nn.GRU

    class SequenceNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            between_layers = dropout if layers > 1 else 0.0
            self.rnn = recurrent(
                inputs, hidden, num_layers=layers, batch_first=True, dropout=between_layers
            )
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, 1)

        def forward(self, windows: Any) -> Any:
            sequence, _ = self.rnn(windows)
            return self.head(self.drop(sequence[:, -1, :])).squeeze(-1)

    return SequenceNetwork()


def _resolve_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require(ok: bool, name: str, expected: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
