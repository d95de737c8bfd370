"""One protocol for every model raikit audits, and the registry of adapters that load them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from raikit.models.errors import ModelError


@runtime_checkable
class Predictor(Protocol):
    """Anything that scores raw table rows.

    ``predict_proba(frame)`` returns an ``(n_rows, n_classes)`` array of class probabilities,
    columns in the order of ``classes``.
    """

    classes: list[str]
    kind: str
    path: Path

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass
class ModelPredictor:
    """A raikit checkpoint (``rai train``) of any architecture: MLP, CNN, RNN, transformer.

    Scores the frame's input columns (table features, pixels, text, sequence steps) exactly as
    in training, ``batch_size`` rows at a time (``None``: the input kind's default, see
    :data:`raikit.models.inference.BATCH_SIZES`); a regressor's ``predict`` gives values and
    ``predict_proba`` is refused.
    """

    path: Path
    model: object
    classes: list[str]
    kind: str = "raikit-checkpoint"
    batch_size: int | None = None

    @property
    def checkpoint(self) -> object:
        """The checkpoint (config, training record, split) the model was loaded from."""
        return self.model.checkpoint

    @property
    def module(self) -> object:
        """The torch module behind the scores (for the checks that need gradients)."""
        return self.model.module

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model.config.get("task") == "regression":
            raise ModelError(f"'{self.path}' is a regressor; it has no class probabilities")
        return self.model.outputs(frame, self.batch_size)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        outputs = self.model.outputs(frame, self.batch_size)
        if self.model.config.get("task") == "regression":
            return outputs
        return np.asarray(self.classes, dtype=object)[outputs.argmax(axis=1)]


def _load_checkpoint_predictor(path: Path) -> ModelPredictor:
    from raikit.models.inference import load_model

    model = load_model(path)
    return ModelPredictor(path, model, [str(c) for c in model.config["classes"]])


@dataclass(frozen=True)
class PredictorAdapter:
    """How to recognise a model format on disk and load it as a :class:`Predictor`."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[[Path], Predictor]


_ADAPTERS: dict[str, PredictorAdapter] = {}


def register_adapter(adapter: PredictorAdapter, *, force: bool = False) -> None:
    """Add a model-format adapter; an existing name is refused unless ``force``."""
    if adapter.name in _ADAPTERS and not force:
        raise ValueError(f"predictor adapter '{adapter.name}' is already registered")
    _ADAPTERS[adapter.name] = adapter


def list_adapters() -> list[PredictorAdapter]:
    """Every registered adapter, in detection order."""
    return list(_ADAPTERS.values())


def load_predictor(path: Path | str) -> Predictor:
    """Load the model at ``path`` with the first adapter that recognises it.

    Raises
    ------
    ModelError
        When the path does not exist or no adapter recognises it.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model '{path}' not found")
    for adapter in _ADAPTERS.values():
        if adapter.detect(path):
            return adapter.load(path)
    formats = "; ".join(f"{a.name}: {a.description}" for a in _ADAPTERS.values())
    raise ModelError(f"'{path}' is not a model raikit can load (formats: {formats})")


register_adapter(
    PredictorAdapter(
        "raikit-checkpoint",
        "a directory written by `rai train` (config.json + model.safetensors)",
        lambda path: path.is_dir() and (path / "config.json").is_file(),
        _load_checkpoint_predictor,
    )
)


def _load_mitigated_predictor(path: Path) -> Predictor:
    from raikit.audit.mitigation.mitigated import load_mitigated

    return load_mitigated(path)


register_adapter(
    PredictorAdapter(
        "raikit-mitigated",
        "a directory written by `rai mitigate` (mitigation.json)",
        lambda path: path.is_dir() and (path / "mitigation.json").is_file(),
        _load_mitigated_predictor,
    )
)
