"""Hugging Face sequence classifiers: a model directory, or a text-classification pipeline.

Both read one text column (``text``), tokenised with the model's own tokenizer (truncated to
``max_length`` tokens: at most 128, or the model's limit), and score the classes of
``config.id2label`` (or the ``classes`` given, in logit order). Their gradients are exposed as
an ``hf-tokenizer`` :class:`~raikit.audit.torch_model.TorchModel`: explanations run Layer
Integrated Gradients on the token embeddings, the robustness check attacks the embeddings.
Directories are read with ``local_files_only``: nothing is ever downloaded.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.audit.adapters import (
    directory_info,
    in_memory_info,
    module_device,
    qualified_name,
    tensors_sha256,
)
from raikit.audit.torch_model import TorchModel
from raikit.models.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    import torch

    from raikit.audit.evidence import ModelInfo

MAX_LENGTH = 128
PIPELINE_TASKS = ("text-classification", "sentiment-analysis")


def is_model_dir(path: Path) -> bool:
    """A directory whose ``config.json`` is a Hugging Face config (it names a ``model_type``)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "model_type" in data and "format" not in data


def is_pipeline(model: Any) -> bool:
    """A ``transformers`` pipeline (of any task; the loader checks it classifies text)."""
    base = sys.modules.get("transformers.pipelines.base")
    return base is not None and isinstance(model, base.Pipeline)


@dataclass
class _TextView(TorchModel):
    """The gradient view: token ids and attention mask from the predictor's tokenizer."""

    predictor: Any = None

    def encode(self, frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        return self.predictor.encode(frame)

    def tokenizer(self) -> Any:
        return self.predictor.tokenizer


def _logits_module(model: Any) -> Any:
    from torch import nn

    class SequenceLogits(nn.Module):
        """``(input_ids, attention_mask) -> logits`` of a Hugging Face sequence classifier."""

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return SequenceLogits(model)


@dataclass
class HuggingFacePredictor:
    """A sequence classifier and its tokenizer, scoring the ``text`` column."""

    module: Any
    tokenizer: Any
    text: str
    classes: list[str]
    path: Path | str
    kind: str
    max_length: int
    batch_size: int = 64

    def encode(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of every row's text (on CPU), padded to the longest."""
        if self.text not in frame.columns:
            raise DataError(f"text column '{self.text}' not found in the data")
        encoded = self.tokenizer(
            frame[self.text].astype(str).tolist(),
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return encoded["input_ids"], encoded["attention_mask"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        import torch

        device = module_device(self.module)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(frame), self.batch_size):
                ids, mask = self.encode(frame.iloc[start : start + self.batch_size])
                logits = self.module(ids.to(device), mask.to(device))
                outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        if not outputs:
            return np.zeros((0, len(self.classes)))
        return np.concatenate(outputs).astype(np.float64)

    def torch_model(self) -> TorchModel:
        """Gradient access through the token-embedding layer."""
        inputs = {
            "kind": "hf-tokenizer",
            "features": [self.text],
            "text": self.text,
            "max_length": self.max_length,
            "tokenizer": ".",
        }
        model_dir = self.path if isinstance(self.path, Path) else None
        self.module.eval()
        return _TextView(
            self.module, "hf-tokenizer", inputs, list(self.classes), model_dir, predictor=self
        )

    def describe(self) -> ModelInfo:
        """A directory's file hashes, or a pipeline's parameter hash; the model class."""
        architecture = qualified_name(self.module.model)
        if isinstance(self.path, Path):
            return directory_info(self.kind, self.path, architecture)
        return in_memory_info(self.kind, self.path, tensors_sha256(self.module), architecture)


def _predictor(
    model: Any, tokenizer: Any, text: str | None, classes: list[str] | None, path, kind: str
) -> HuggingFacePredictor:
    from raikit.models.schema import label_text

    if not text or not isinstance(text, str):
        raise ConfigError(
            "a Hugging Face model needs text='COLUMN': the column holding the texts it classifies"
        )
    n_labels = int(model.config.num_labels)
    if classes is None:
        id2label = model.config.id2label or {}
        names = [label_text(id2label.get(i, id2label.get(str(i), i))) for i in range(n_labels)]
    else:
        names = [label_text(c) for c in classes]
        if len(names) != n_labels:
            raise ConfigError(
                f"classes names {len(names)} classes; the model scores {n_labels} "
                f"(its labels: {list((model.config.id2label or {}).values())})"
            )
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"the model's classes must be at least two distinct names; got {names}")
    limits = [
        MAX_LENGTH,
        getattr(model.config, "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    max_length = min(int(v) for v in limits if isinstance(v, (int, float)) and v > 0)
    module = _logits_module(model)
    module.eval()
    return HuggingFacePredictor(module, tokenizer, text, names, path, kind, max_length)


def load_model_dir(
    path: Path, *, text: str | None = None, classes: list[str] | None = None
) -> HuggingFacePredictor:
    """Load a sequence-classification model and its tokenizer from ``path`` (local files only)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # Loading reports and progress bars say nothing an audit needs; restored afterwards.
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"'{path}' could not be loaded as a Hugging Face sequence classifier with its "
            f"tokenizer: {first}"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return _predictor(model, tokenizer, text, classes, Path(path), "huggingface")


def load_pipeline(
    pipeline: Any, *, text: str | None = None, classes: list[str] | None = None
) -> HuggingFacePredictor:
    """Wrap a text-classification pipeline's model and tokenizer (its post-processing is not
    used: raikit reads the softmax of the logits)."""
    if getattr(pipeline, "task", None) not in PIPELINE_TASKS:
        raise ModelError(
            f"a '{getattr(pipeline, 'task', None)}' pipeline: raikit audits text-classification "
            "pipelines"
        )
    if getattr(pipeline, "tokenizer", None) is None:
        raise ModelError("the pipeline has no tokenizer: raikit tokenises the text column itself")
    path = f"<in-memory transformers pipeline: {type(pipeline.model).__name__}>"
    return _predictor(
        pipeline.model, pipeline.tokenizer, text, classes, path, "huggingface-pipeline"
    )
