"""Masked-language-model pre-training of the small from-scratch encoder (``rai pretrain``).

A WordPiece tokenizer is trained on the corpus, then a small BERT learns to fill in 15% of
the tokens (of which 80% become ``[MASK]``, 10% a random token, 10% stay: BERT's recipe).
The result is a raikit checkpoint (architecture ``encoder-mlm``) with its ``tokenizer/``,
which ``rai train --arch encoder --init DIR`` fine-tunes for classification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from raikit.models.checkpoint import (
    Checkpoint,
    model_config,
    prepare_output_dir,
    save_checkpoint,
)
from raikit.models.errors import DataError
from raikit.models.provenance import package_versions, utc_now
from raikit.models.tensorboard_log import log_dir, tensorboard_log

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable


def pretrain(
    table: LoadedTable,
    text: str,
    out_dir: Path,
    *,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    max_length: int = 64,
    vocab_size: int = 4_000,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    tensorboard: bool | Path = True,
) -> Checkpoint:
    """Train a tokenizer and a small BERT masked language model on ``table[text]``.

    ``tensorboard`` logs each epoch's loss and learning rate in the checkpoint's
    ``tensorboard/`` (``True``), in the directory given, or not at all (``False``).

    Returns
    -------
    Checkpoint
        ``encoder-mlm`` checkpoint; its record holds the per-epoch masked-token loss.
    """
    import torch
    from tqdm.auto import tqdm

    from raikit.models.inputs import fit_inputs, load_tokenizer
    from raikit.models.transformer import build_masked_lm, small_encoder_config, train_wordpiece

    if text not in table.frame.columns:
        raise DataError(f"text column '{text}' not found in {table.source}")
    out_dir = Path(out_dir)
    prepare_output_dir(out_dir, force=force)
    texts = table.frame[text].astype(str).tolist()
    train_wordpiece(texts, out_dir, vocab_size=vocab_size)
    tokenizer = load_tokenizer(out_dir / "tokenizer")
    inputs = fit_inputs("hf-tokenizer", table.frame, [], [text], {"max_length": max_length})
    encoded = tokenizer(
        texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    torch.manual_seed(seed)
    hf_config = small_encoder_config(len(tokenizer), max_length)
    model = build_masked_lm(hf_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    history = []
    with tensorboard_log(log_dir(tensorboard, out_dir), first_epoch=1) as write_log:
        for epoch in tqdm(range(1, epochs + 1), desc="pretraining", disable=not progress):
            model.train()
            order = torch.randperm(len(ids), generator=generator)
            total, batches = 0.0, 0
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch, labels = _mask_tokens(ids[rows], special, tokenizer, generator)
                optimizer.zero_grad()
                loss = model(input_ids=batch, attention_mask=mask[rows], labels=labels).loss
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            history.append(
                {
                    "epoch": epoch,
                    "mlm_loss": round(total / max(batches, 1), 6),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                }
            )
            if write_log is not None:
                write_log(history[-1])
    config = model_config(
        architecture="encoder-mlm",
        arch_params={"hf_config": hf_config},
        task="masked-language-model",
        label=None,
        classes=[],
        inputs=inputs,
    )
    record = {
        "created_at": utc_now(),
        "data": {"source": table.source, "sha256": table.sha256, "n_rows": len(texts)},
        "hyperparameters": {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "max_length": max_length,
            "vocab_size": len(tokenizer),
            "mask_fraction": 0.15,
            "seed": seed,
        },
        "epochs": history,
        "privacy": {"differentially_private": False},
        "packages": package_versions(),
    }
    return save_checkpoint(out_dir, model, config, record, {"train": list(range(len(texts)))})


def _mask_tokens(ids, special, tokenizer, generator):
    """BERT's masking: labels are -100 except at the 15% chosen positions."""
    import torch

    labels = ids.clone()
    candidates = ~torch.isin(ids, special)
    chosen = (torch.rand(ids.shape, generator=generator) < 0.15) & candidates
    labels[~chosen] = -100
    roll = torch.rand(ids.shape, generator=generator)
    masked = ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), ids.shape, generator=generator)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = random_ids[swap]
    return masked, labels
