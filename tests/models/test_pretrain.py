"""`rai pretrain`: the masked-token loss, and DP-SGD pre-training whose guarantee is recorded,
recomputable, and named by the classifier fine-tuned from it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.models.data import load_table
from raikit.models.pretrain import _masked_token_loss

#: The figures a private pre-training logs per epoch, by field of its epoch entry.
TAG_OF_FIELD = {
    "mlm_loss": "loss/train",
    "learning_rate": "learning_rate",
    "epsilon": "privacy/epsilon",
    "clipped_fraction": "privacy/clipped_fraction",
    "grad_norm_p10": "privacy/grad_norm_p10",
    "grad_norm_p50": "privacy/grad_norm_p50",
    "grad_norm_p90": "privacy/grad_norm_p90",
}


def test_masked_token_loss_is_a_mean_over_texts():
    # Uniform logits over 4 tokens: every masked token costs ln 4. Text 0 has two masked
    # tokens, text 1 one, text 2 none: per text ln 4, ln 4, 0, so the batch mean is 2/3 ln 4
    # (a mean over the batch's tokens would give ln 4 and tie each text to the others).
    labels = torch.tensor([[1, 2, -100], [-100, 3, -100], [-100, -100, -100]])
    logits = torch.zeros(3, 3, 4)
    assert float(_masked_token_loss(logits, labels)) == pytest.approx(2 / 3 * math.log(4))
    assert float(_masked_token_loss(logits[:0], labels[:0])) == 0.0  # an empty Poisson batch


def _epsilon_by_stepping(sigma, rate, steps, delta):
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(steps):
        accountant.step(noise_multiplier=sigma, sample_rate=rate)
    return accountant.get_epsilon(delta=delta)


def test_private_pretraining_then_fine_tuning_records_the_guarantee(tmp_path):
    corpus = tmp_path / "corpus.csv"
    load_table("identity-text").frame.sample(n=60, random_state=0).to_csv(corpus, index=False)
    runner = CliRunner()
    pre = ["pretrain", "--data", str(corpus), "--text", "text", "--out", str(tmp_path / "p")]
    pre += ["--epochs", "1", "--max-length", "8", "--vocab-size", "200", "--batch-size", "16"]
    pre += ["--dp", "--noise-multiplier", "1.0", "--accountant", "rdp", "--quiet"]
    result = runner.invoke(app, pre)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "p" / "training.json").read_text())
    privacy = record["privacy"]
    # 60 texts in batches of 16: 4 steps of q = 1/4; delta 1/(10 n) = 1/600.
    assert privacy["differentially_private"] is True and privacy["n_train_rows"] == 60
    assert privacy["history"] == [[1.0, 0.25, 4]] and privacy["delta"] == pytest.approx(1 / 600)
    expected = _epsilon_by_stepping(1.0, 0.25, 4, 1 / 600)
    assert privacy["epsilon"] == pytest.approx(expected, abs=1e-6)
    assert record["epochs"][0]["epsilon"] == privacy["epsilon"]
    assert f"epsilon {expected:.3f}" in result.output
    assert any("vocabulary" in note for note in record["notes"])
    # Each epoch entry also holds the learning rate and the clipping figures, and the
    # TensorBoard log (read back from the event files) holds exactly those figures.
    (entry,) = record["epochs"]
    assert entry["learning_rate"] == 5e-4  # rai pretrain's default
    assert 0 <= entry["clipped_fraction"] <= 1
    # A text with no masked token (often, at 8 tokens) has a zero gradient: p10 may be 0.
    assert 0 <= entry["grad_norm_p10"] <= entry["grad_norm_p50"] <= entry["grad_norm_p90"]
    assert entry["grad_norm_p90"] > 0
    events = EventAccumulator(str(tmp_path / "p" / "tensorboard"))
    events.Reload()
    logged = {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in TAG_OF_FIELD.values()
    }
    for field, tag in TAG_OF_FIELD.items():
        assert logged[tag] == [(1, float(np.float32(entry[field])))], tag
    assert set(events.Tags()["scalars"]) == set(TAG_OF_FIELD.values())

    args = ["train", "--data", str(corpus), "--label", "sentiment", "--arch", "encoder"]
    args += ["--text", "text"]
    args += ["--init", str(tmp_path / "p"), "--out", str(tmp_path / "c"), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--max-length", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    tuned = json.loads((tmp_path / "c" / "training.json").read_text())
    assert tuned["initialized_from"] == {
        "path": str(tmp_path / "p"),
        "data": record["data"],
        "privacy": privacy,
    }
    assert tuned["privacy"] == {"differentially_private": False}  # the fine-tuning itself
    assert f"pre-trained with DP-SGD (epsilon {expected:.3f}" in result.output


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_per_sample_gradients_of_the_masked_lm_equal_one_text_at_a_time():
    # The output bias and the decoder weight are tied to other parameters: Opacus' per-sample
    # gradients must still equal those of each text's own backward pass.
    from opacus import GradSampleModule

    from raikit.models.transformer import (
        allow_private_masked_lm,
        build_masked_lm,
        position_inputs,
        small_encoder_config,
    )

    torch.manual_seed(0)
    config = small_encoder_config(50, 6, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = build_masked_lm(config)
    allow_private_masked_lm(model)
    ids = torch.randint(5, 50, (3, 6))
    labels = torch.full_like(ids, -100)
    labels[0, [1, 3]], labels[1, 2], labels[2, [0, 4, 5]] = 7, 9, 11

    def loss_of(module, rows):
        logits = module(input_ids=ids[rows], **position_inputs(ids[rows])).logits
        return _masked_token_loss(logits, labels[rows])

    wrapped = GradSampleModule(model)
    loss_of(wrapped, slice(None)).backward()
    per_sample = {n: p.grad_sample.clone() for n, p in model.named_parameters()}
    wrapped._close()
    for i in range(3):
        model.zero_grad()
        loss_of(model, slice(i, i + 1)).backward()
        for name, parameter in model.named_parameters():
            torch.testing.assert_close(per_sample[name][i], parameter.grad, rtol=1e-4, atol=1e-6)
