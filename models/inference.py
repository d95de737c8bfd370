"""Scoring a saved checkpoint of any architecture: rebuild, load weights, encode, predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.models.checkpoint import Checkpoint, load_module, read_checkpoint
from raikit.models.threads import use_threads_for

if TYPE_CHECKING:
    import torch

#: Rows scored per forward pass by input kind (others: 256). A tabular MLP is cheap per row
#: and dominated by per-call overhead at small batches (10x slower at 256 than at 65,536).
BATCH_SIZES = {"tabular": 65_536}


@dataclass
class LoadedModel:
    """A checkpoint with its rebuilt module, ready to score frames."""

    checkpoint: Checkpoint
    module: Any

    @property
    def config(self) -> dict:
        return self.checkpoint.config

    def logits(self, frame: pd.DataFrame, batch_size: int | None = None) -> torch.Tensor:
        """The module's raw outputs ``(n, width)`` for the rows of ``frame``.

        ``batch_size`` rows go through the module at a time; by default
        :data:`BATCH_SIZES` of the input kind.
        """
        import torch

        from raikit.models.inputs import encode_inputs

        inputs = self.config["inputs"]
        batch_size = batch_size or BATCH_SIZES.get(inputs["kind"], 256)
        tensors = encode_inputs(frame, inputs, self.checkpoint.path)
        with torch.no_grad():
            chunks = [
                self.module(*[t[start : start + batch_size] for t in tensors])
                for start in range(0, len(frame), batch_size)
            ]
        width = 1 if self.config["task"] == "regression" else len(self.config["classes"])
        return torch.cat(chunks) if chunks else torch.zeros(0, width)

    def outputs(self, frame: pd.DataFrame, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, or ``(n,)`` values for a regressor."""
        import torch

        out = self.logits(frame, batch_size)
        if self.config["task"] == "regression":
            return out.squeeze(-1).numpy().astype(np.float64)
        return torch.softmax(out, dim=1).numpy().astype(np.float64)


def load_model(path: Path | str) -> LoadedModel:
    """Read the checkpoint at ``path`` and rebuild its module with the saved weights."""
    checkpoint = read_checkpoint(Path(path))
    module = load_module(checkpoint)
    use_threads_for(module)
    return LoadedModel(checkpoint, module)
