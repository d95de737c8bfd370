"""One protocol for every model raikit audits, and the registry of adapters that load them.

An adapter recognises one kind of model, a path on disk (a raikit checkpoint, a Hugging Face
model directory) or an object in memory (a fitted scikit-learn classifier, a ``torch.nn.Module``,
a ``transformers`` pipeline), and wraps it as a :class:`Predictor`. :func:`load_predictor` tries
the path adapters, :func:`as_predictor` takes any model; both read the one table
:func:`list_adapters` shows. The adapters of models raikit did not train live in
:mod:`raikit.audit.adapters`, one module each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from raikit.audit.adapters import hugging_face, scikit_learn, torch_module
from raikit.models.errors import ConfigError, ModelError


@runtime_checkable
class Predictor(Protocol):
    """Anything that scores raw table rows.

    ``predict_proba(frame)`` returns an ``(n_rows, n_classes)`` array of class probabilities,
    columns in the order of ``classes``. ``path`` is where the model was loaded from or, for a
    model given in memory, a description such as ``"<in-memory sklearn LogisticRegression>"``.

    Optional abilities are asked of the object: ``torch_model()`` gives its gradient view
    (:func:`raikit.audit.torch_model.torch_model`), ``describe()`` what the evidence records of
    it (:func:`raikit.audit.runner.describe_model`).
    """

    classes: list[str]
    kind: str
    path: Path | str

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
    """How to recognise one kind of model and wrap it as a :class:`Predictor`.

    Attributes
    ----------
    name : str
        The adapter's name.
    description : str
        What it recognises, in a user's words (error messages list them).
    detect : callable
        ``detect(model) -> bool``; cheap, and never imports a heavy library.
    load : callable
        ``load(model, **options) -> Predictor``.
    source : {"path", "object"}
        ``"path"``: ``model`` is a :class:`~pathlib.Path` (:func:`load_predictor`);
        ``"object"``: the model itself, in memory (:func:`as_predictor`).
    options : tuple of str
        The keyword options ``load`` reads (``feature_columns``, ``classes``, ``text``); any
        other option given is refused.
    """

    name: str
    description: str
    detect: Callable[[Any], bool]
    load: Callable[..., Predictor]
    source: Literal["path", "object"] = "path"
    options: tuple[str, ...] = ()


_ADAPTERS: dict[str, PredictorAdapter] = {}


def register_adapter(adapter: PredictorAdapter, *, force: bool = False) -> None:
    """Add a model adapter, tried after those already there.

    An adapter of the same name is refused unless ``force``.
    """
    if adapter.name in _ADAPTERS and not force:
        raise ValueError(f"predictor adapter '{adapter.name}' is already registered")
    _ADAPTERS[adapter.name] = adapter


def list_adapters() -> list[PredictorAdapter]:
    """Every registered adapter, in detection order."""
    return list(_ADAPTERS.values())


def _load_with(adapter: PredictorAdapter, model: Any, options: dict[str, Any]) -> Predictor:
    given = {name: value for name, value in options.items() if value is not None}
    unread = [name for name in given if name not in adapter.options]
    if unread:
        reads = ", ".join(adapter.options) or "none"
        raise ConfigError(
            f"option '{unread[0]}' does not apply to a {adapter.name} model "
            f"(options it reads: {reads})"
        )
    return adapter.load(model, **given)


def load_predictor(path: Path | str, **options: Any) -> Predictor:
    """Load the model at ``path`` with the first adapter that recognises it.

    Parameters
    ----------
    path : str or pathlib.Path
        A model file or directory.
    **options
        Read by the adapter that recognises it (a Hugging Face directory needs ``text``);
        ``None`` values are ignored.

    Raises
    ------
    ModelError
        When the path does not exist or no adapter recognises it.
    ConfigError
        When an option does not apply to that kind of model.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model '{path}' not found")
    adapters = [a for a in _ADAPTERS.values() if a.source == "path"]
    for adapter in adapters:
        if adapter.detect(path):
            return _load_with(adapter, path, options)
    formats = "; ".join(f"{a.name}: {a.description}" for a in adapters)
    raise ModelError(f"'{path}' is not a model raikit can load (formats: {formats})")


def as_predictor(model: Any, **options: Any) -> Predictor:
    """Wrap any model raikit can audit as a :class:`Predictor`.

    Parameters
    ----------
    model : str, pathlib.Path, Predictor or a model object
        A path (see :func:`load_predictor`), a predictor (returned as it is), or an object an
        ``"object"`` adapter recognises: a fitted scikit-learn classifier, a
        ``torch.nn.Module`` (with ``feature_columns`` and ``classes``), a ``transformers``
        text-classification pipeline (with ``text``).
    **options
        Read by the adapter that recognises ``model``; ``None`` values are ignored.

    Returns
    -------
    Predictor

    Raises
    ------
    ModelError
        When no adapter recognises ``model``.
    ConfigError
        When an option is missing or does not apply to that kind of model.

    Examples
    --------
    >>> as_predictor(fitted_pipeline).path  # doctest: +SKIP
    '<in-memory sklearn Pipeline>'
    """
    if isinstance(model, (str, os.PathLike)):
        return load_predictor(model, **options)
    if isinstance(model, Predictor):
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ConfigError(f"option '{given[0]}' does not apply to a ready Predictor")
        return model
    adapters = [a for a in _ADAPTERS.values() if a.source == "object"]
    for adapter in adapters:
        if adapter.detect(model):
            return _load_with(adapter, model, options)
    kinds = "; ".join(f"{a.name}: {a.description}" for a in _ADAPTERS.values())
    raise ModelError(
        f"cannot audit a {type(model).__module__}.{type(model).__qualname__}; raikit audits "
        f"{kinds}; or any Predictor (predict_proba, classes, kind, path)"
    )


register_adapter(
    PredictorAdapter(
        "raikit-checkpoint",
        "a directory written by `rai train` (config.json + model.safetensors)",
        # A Hugging Face model directory has a config.json too; its model_type tells them apart.
        lambda path: (path / "config.json").is_file() and not hugging_face.is_model_dir(path),
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


# Models raikit did not train: one module each in raikit.audit.adapters.
register_adapter(
    PredictorAdapter(
        "huggingface",
        "a Hugging Face sequence-classification model directory with its tokenizer "
        "(options: text, the text column; classes)",
        hugging_face.is_model_dir,
        hugging_face.load_model_dir,
        options=("text", "classes"),
    )
)
register_adapter(
    PredictorAdapter(
        "sklearn",
        "a fitted scikit-learn classifier or Pipeline (predict_proba and classes_; "
        "option: feature_columns)",
        scikit_learn.detect,
        scikit_learn.load,
        source="object",
        options=("feature_columns",),
    )
)
register_adapter(
    PredictorAdapter(
        "torch-module",
        "a torch.nn.Module mapping a float tensor of the numeric feature_columns to logits "
        "(options: feature_columns, classes)",
        torch_module.detect,
        torch_module.load,
        source="object",
        options=("feature_columns", "classes"),
    )
)
register_adapter(
    PredictorAdapter(
        "huggingface-pipeline",
        "a transformers text-classification pipeline (options: text, the text column; classes)",
        hugging_face.is_pipeline,
        hugging_face.load_pipeline,
        source="object",
        options=("text", "classes"),
    )
)
