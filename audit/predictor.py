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
class CheckpointPredictor:
    """A raikit checkpoint (``rai train``): preprocessing + torch module, scored in batches."""

    path: Path
    checkpoint: object
    module: object
    preprocessor: object
    classes: list[str]
    kind: str = "raikit-checkpoint"
    batch_size: int = 65536

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        import torch

        inputs = self.preprocessor.transform(frame)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                batch = torch.from_numpy(inputs[start : start + self.batch_size])
                outputs.append(torch.softmax(self.module(batch), dim=1).numpy())
        if not outputs:
            return np.zeros((0, len(self.classes)))
        return np.concatenate(outputs).astype(np.float64)


@dataclass
class ModelPredictor:
    """A raikit checkpoint of any architecture (CNN, RNN, transformer, private MLP...).

    Scores the frame's input columns (pixels, text, sequence steps) exactly as in training;
    a regressor's ``predict`` gives values and ``predict_proba`` is refused.
    """

    path: Path
    model: object
    classes: list[str]
    kind: str = "raikit-checkpoint"

    @property
    def checkpoint(self) -> object:
        """The checkpoint (config, training record, split) the model was loaded from."""
        return self.model.checkpoint

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model.config.get("task") == "regression":
            raise ModelError(f"'{self.path}' is a regressor; it has no class probabilities")
        return self.model.outputs(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        outputs = self.model.outputs(frame)
        if self.model.config.get("task") == "regression":
            return outputs
        return np.asarray(self.classes, dtype=object)[outputs.argmax(axis=1)]


def _load_checkpoint_predictor(path: Path) -> CheckpointPredictor | ModelPredictor:
    from raikit.models.architectures import get_architecture
    from raikit.models.checkpoint import load_weights, read_checkpoint
    from raikit.models.preprocess import TabularPreprocessor

    checkpoint = read_checkpoint(path)
    config = checkpoint.config
    if "inputs" in config:
        from raikit.models.inference import load_model

        model = load_model(path)
        return ModelPredictor(path, model, [str(c) for c in config.get("classes", [])])
    try:
        params = dict(config["arch_params"])
        if "hidden" in params:
            params["hidden"] = tuple(params["hidden"])
        module = get_architecture(config["architecture"]).build(**params)
        preprocessor = TabularPreprocessor.from_dict(config["preprocessor"])
        classes = [str(c) for c in config["classes"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"'{path}/config.json' is incomplete or invalid: {exc}") from None
    load_weights(checkpoint, module)
    return CheckpointPredictor(path, checkpoint, module, preprocessor, classes)


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
