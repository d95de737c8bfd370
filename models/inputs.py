"""Model inputs from a table: fitted on the training rows, then applied the same way forever.

``fit_inputs`` learns what an input kind needs (scaling, vocabulary, tokenizer) from the
training rows only and returns a plain-JSON description; ``encode_inputs`` turns any frame
into the model's input tensors with that description. Training and scoring both call
``encode_inputs``, so a loaded checkpoint sees exactly the inputs it was trained on.

Kinds: ``tabular`` (the MLP's preprocessor), ``image`` (pixel columns -> ``(C, H, W)``),
``words`` (word ids for the RNN), ``sequence`` (numeric columns as time steps) and
``hf-tokenizer`` (a Hugging Face tokenizer saved in the checkpoint's ``tokenizer/`` folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.models.errors import DataError

if TYPE_CHECKING:
    import torch

TOKENIZER_DIR = "tokenizer"


def fit_inputs(
    kind: str,
    frame: pd.DataFrame,
    train_rows: list[int],
    features: list[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """Describe how to encode ``features`` of ``frame`` for an input ``kind``.

    Parameters
    ----------
    kind : str
        One of ``tabular``, ``image``, ``words``, ``sequence``, ``hf-tokenizer``.
    frame : pandas.DataFrame
        The whole table.
    train_rows : list of int
        Positions of the training rows: the only rows anything is fitted on.
    features : list of str
        Input columns (the text column for text kinds).
    options : dict
        ``max_categories``, ``min_frequency`` and ``accept_free_text`` (tabular),
        ``max_length`` and ``vocab_size`` (text).
    """
    train = frame.iloc[train_rows]
    if kind == "tabular":
        from raikit.models.preprocess import MIN_FREQUENCY, fit_preprocessor

        preprocessor = fit_preprocessor(
            train[features],
            max_categories=options.get("max_categories", 50),
            min_frequency=options.get("min_frequency", MIN_FREQUENCY),
            accept_free_text=options.get("accept_free_text", False),
        )
        return {"kind": kind, "features": features, "preprocessor": preprocessor.to_dict()}
    if kind == "image":
        from raikit.models.images import infer_image_shape

        pixels = frame[features].to_numpy(dtype=np.float32)
        scale = float(np.abs(pixels[train_rows]).max()) or 1.0
        shape = infer_image_shape(frame, len(features))
        return {"kind": kind, "features": features, "shape": shape, "scale": scale}
    if kind == "sequence":
        values = train[features].to_numpy(dtype=np.float64)
        return {
            "kind": kind,
            "features": features,
            "mean": float(values.mean()),
            "std": float(values.std()) or 1.0,
        }
    if kind == "words":
        from raikit.models.text import fit_vocabulary

        (text,) = features
        vocabulary = fit_vocabulary(
            train[text].astype(str), max_size=options.get("vocab_size", 20_000)
        )
        return {
            "kind": kind,
            "features": features,
            "text": text,
            "vocabulary": vocabulary,
            "max_length": options.get("max_length", 64),
        }
    if kind == "hf-tokenizer":
        (text,) = features
        return {
            "kind": kind,
            "features": features,
            "text": text,
            "max_length": options.get("max_length", 128),
            "tokenizer": TOKENIZER_DIR,
        }
    raise DataError(f"unknown input kind '{kind}'")


def encode_inputs(
    frame: pd.DataFrame, inputs: dict[str, Any], model_dir: Path | None = None
) -> tuple[torch.Tensor, ...]:
    """The input tensors of every row of ``frame``, as described by ``inputs``."""
    import torch

    missing = [c for c in inputs["features"] if c not in frame.columns]
    if missing:
        raise DataError(
            f"the model needs column(s) {', '.join(repr(c) for c in missing)}, "
            "which the data does not have"
        )
    kind = inputs["kind"]
    if kind == "tabular":
        from raikit.models.preprocess import TabularPreprocessor

        preprocessor = TabularPreprocessor.from_dict(inputs["preprocessor"])
        return (torch.from_numpy(preprocessor.transform(frame[inputs["features"]])),)
    if kind == "image":
        pixels = frame[inputs["features"]].to_numpy(dtype=np.float32) / inputs["scale"]
        return (torch.from_numpy(pixels.reshape(len(frame), *inputs["shape"])),)
    if kind == "sequence":
        values = frame[inputs["features"]].to_numpy(dtype=np.float32)
        values = (values - inputs["mean"]) / inputs["std"]
        return (torch.from_numpy(values.astype(np.float32)),)
    if kind == "words":
        from raikit.models.text import encode_texts

        ids = encode_texts(
            frame[inputs["text"]].astype(str), inputs["vocabulary"], inputs["max_length"]
        )
        return (torch.from_numpy(ids),)
    if kind == "hf-tokenizer":
        tokenizer = load_tokenizer(Path(model_dir) / inputs["tokenizer"])
        encoded = tokenizer(
            frame[inputs["text"]].astype(str).tolist(),
            padding="max_length",
            truncation=True,
            max_length=inputs["max_length"],
            return_tensors="pt",
        )
        return (encoded["input_ids"], encoded["attention_mask"])
    raise DataError(f"unknown input kind '{kind}'")


def load_tokenizer(path: Path) -> Any:
    """A saved Hugging Face tokenizer, read from disk only."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
