"""Scoring a saved checkpoint of any architecture: rebuild, load weights, encode, predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raikit.models.checkpoint import Checkpoint, load_weights, read_checkpoint
from raikit.models.errors import ModelError


@dataclass
class LoadedModel:
    """A checkpoint with its rebuilt module, ready to score frames."""

    checkpoint: Checkpoint
    module: Any

    @property
    def config(self) -> dict:
        return self.checkpoint.config

    def outputs(self, frame: pd.DataFrame, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, or ``(n,)`` values for a regressor."""
        import torch

        from raikit.models.inputs import encode_inputs

        config = self.config
        # Plain tabular checkpoints (models.train's own loop) keep the preprocessor on top.
        inputs = config.get("inputs") or {
            "kind": "tabular",
            "features": config["features"],
            "preprocessor": config["preprocessor"],
        }
        tensors = encode_inputs(frame, inputs, self.checkpoint.path)
        regression = self.config.get("task") == "regression"
        chunks = []
        with torch.no_grad():
            for start in range(0, len(frame), batch_size):
                out = self.module(*[t[start : start + batch_size] for t in tensors])
                chunks.append(out.squeeze(-1) if regression else torch.softmax(out, dim=1))
        if not chunks:
            width = () if regression else (len(self.config["classes"]),)
            return np.zeros((0, *width))
        return torch.cat(chunks).numpy().astype(np.float64)


def load_model(path: Path | str) -> LoadedModel:
    """Read the checkpoint at ``path`` and rebuild its module with the saved weights."""
    from raikit.models.trainer import build_from_config

    checkpoint = read_checkpoint(Path(path))
    try:
        module = build_from_config(checkpoint.config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"'{path}/config.json' is incomplete or invalid: {exc}") from None
    return LoadedModel(checkpoint, load_weights(checkpoint, module))
