"""The gradient view of predictors: same scores as the predictor, right layers and groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from raikit.audit.predictor import load_predictor
from raikit.audit.torch_model import predict_logits, torch_model
from raikit.models.data import LoadedTable, load_table
from raikit.models.preprocess import TabularPreprocessor
from raikit.models.train import TrainSpec, train


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_tabular_logits_match_the_predictor_and_groups_cover_every_encoded_input(
    arrests_model, arrests_table
):
    predictor = load_predictor(arrests_model.path)
    model = torch_model(predictor)
    frame = arrests_table.frame.iloc[:50]
    np.testing.assert_allclose(
        _softmax(predict_logits(model, frame)), predictor.predict_proba(frame), atol=1e-6
    )
    groups = model.encoded_column_groups()
    names = TabularPreprocessor.from_dict(model.inputs["preprocessor"]).output_names
    assert sorted(i for positions in groups.values() for i in positions) == list(range(len(names)))
    # Each encoded input belongs to the raw column its name starts with.
    for column, positions in groups.items():
        assert all(names[i] == column or names[i].startswith(f"{column}=") for i in positions)
    assert model.input_kind == "tabular"
    with pytest.raises(ValueError, match="token-embedding"):
        model.embedding_layer()


def test_text_model_exposes_its_embedding_layer_and_padding(tmp_path):
    table = load_table("identity-text")
    frame = table.frame.sample(n=80, random_state=0).reset_index(drop=True)
    small = LoadedTable(frame, table.source, table.sha256, table.spec)
    spec = TrainSpec(label=table.spec.label, arch="rnn", epochs=1, batch_size=16, max_length=10)
    train(small, spec, tmp_path / "rnn", progress=False)
    predictor = load_predictor(tmp_path / "rnn")
    model = torch_model(predictor)
    assert model.input_kind == "words"
    assert isinstance(model.embedding_layer(), torch.nn.Embedding)
    (ids,) = model.encode(frame.iloc[:3])
    assert model.pad_token_id() == 0 and (ids == 0).any()  # short texts are padded with 0
    np.testing.assert_allclose(
        _softmax(predict_logits(model, frame.iloc[:5])),
        predictor.predict_proba(frame.iloc[:5]),
        atol=1e-6,
    )


def test_a_predictor_without_a_torch_module_gives_none():
    class Constant:
        classes = ["no", "yes"]
        kind = "constant"

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return np.full((len(frame), 2), 0.5)

    assert torch_model(Constant()) is None
