"""Gradient access to a torch-backed predictor, for the checks that differentiate the model.

Explanations (captum), adversarial attacks and membership-inference attacks need more than
``predict_proba``: the ``torch.nn.Module``, the tensors it reads, and for text the embedding
layer. :func:`torch_model` gives one :class:`TorchModel` for every raikit checkpoint, whatever
its architecture, and for any other predictor that offers one through its ``torch_model()``
method (a ``torch.nn.Module`` or a Hugging Face model audited from memory, see
:mod:`raikit.audit.adapters`); a predictor with no torch module behind it (a predictions file,
a scikit-learn model, a post-processed mitigated model) or with no gradients (an int8 model)
gives ``None`` and the checks fall back to model-agnostic methods or say they could not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch

    from raikit.audit.predictor import Predictor

INPUT_KINDS = ("tabular", "image", "sequence", "words", "hf-tokenizer")


@dataclass
class TorchModel:
    """A predictor's module, in eval mode, with the encoding of raw rows into its inputs.

    Attributes
    ----------
    module : torch.nn.Module
        Maps the encoded input tensors to logits ``(n, n_classes)``.
    input_kind : str
        One of ``INPUT_KINDS``: how rows become tensors (see :mod:`raikit.models.inputs`).
    inputs : dict
        The checkpoint's JSON description of that encoding.
    classes : list of str
        Class names, in logit order.
    model_dir : pathlib.Path or None
        The checkpoint directory (holds the tokenizer of a Hugging Face model); ``None`` for a
        model given in memory.
    """

    module: Any
    input_kind: str
    inputs: dict
    classes: list[str]
    model_dir: Path | None

    def encode(self, frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        """The module's input tensors for every row of ``frame`` (one tensor, or ids + mask)."""
        from raikit.models.inputs import encode_inputs

        return encode_inputs(frame, self.inputs, self.model_dir)

    def logits(self, *tensors: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Logits of the encoded ``tensors``, computed in batches without gradients."""
        import torch

        chunks = []
        with torch.no_grad():
            for start in range(0, len(tensors[0]), batch_size):
                chunks.append(self.module(*[t[start : start + batch_size] for t in tensors]))
        if not chunks:
            return torch.zeros((0, len(self.classes)))
        return torch.cat(chunks)

    @property
    def feature_columns(self) -> list[str]:
        """The raw columns the model reads (pixels, the text column, tabular features)."""
        return list(self.inputs["features"])

    def encoded_column_groups(self) -> dict[str, list[int]]:
        """Tabular only: raw column -> the positions of its encoded (scaled/one-hot) inputs."""
        if self.input_kind != "tabular":
            raise ValueError(f"a {self.input_kind} model has no encoded column groups")
        preprocessor = self.inputs["preprocessor"]
        groups: dict[str, list[int]] = {}
        position = 0
        for column in preprocessor["numeric"]:
            groups[column["name"]] = [position]
            position += 1
        for column in preprocessor["categorical"]:
            width = len(column["categories"])
            groups[column["name"]] = list(range(position, position + width))
            position += width
        return groups

    def embedding_layer(self) -> Any:
        """Text only: the token-embedding layer (for layer attributions and embedding attacks)."""
        if self.input_kind == "words":
            return self.module.embed
        if self.input_kind == "hf-tokenizer":
            return self.module.model.get_input_embeddings()
        raise ValueError(f"a {self.input_kind} model has no token-embedding layer")

    def pad_token_id(self) -> int:
        """Text only: the id of the padding token (the natural attribution baseline)."""
        if self.input_kind == "words":
            return 0  # models.text reserves id 0 for padding
        if self.input_kind == "hf-tokenizer":
            return int(self.tokenizer().pad_token_id)
        raise ValueError(f"a {self.input_kind} model has no padding token")

    def tokenizer(self) -> Any:
        """Hugging Face text only: the model's tokenizer."""
        from raikit.models.inputs import load_tokenizer

        if self.input_kind != "hf-tokenizer":
            raise ValueError(f"a {self.input_kind} model has no Hugging Face tokenizer")
        return load_tokenizer(self.model_dir / self.inputs["tokenizer"])


def torch_model(predictor: Predictor) -> TorchModel | None:
    """The :class:`TorchModel` behind ``predictor``, or ``None`` when it has no torch module."""
    from raikit.audit.predictor import ModelPredictor

    offered = getattr(predictor, "torch_model", None)
    if callable(offered):
        return offered()
    if not isinstance(predictor, ModelPredictor) or predictor.model.config["task"] == "regression":
        return None
    if (predictor.model.config.get("compression") or {}).get("method") == "int8-dynamic":
        return None  # int8 layers (rai compress) have no gradients
    inputs = predictor.model.config["inputs"]
    module = predictor.model.module
    module.eval()
    return TorchModel(module, inputs["kind"], inputs, list(predictor.classes), predictor.path)


def predict_logits(model: TorchModel, frame: pd.DataFrame) -> np.ndarray:
    """Logits of every row of ``frame`` as a float64 array."""
    return model.logits(*model.encode(frame)).numpy().astype(np.float64)
