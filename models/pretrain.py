"""Masked-language-model pre-training of the small from-scratch encoder (``rai pretrain``).

A WordPiece tokenizer is trained on the corpus, then a small BERT learns to fill in 15% of
the tokens (of which 80% become ``[MASK]``, 10% a random token, 10% stay: BERT's recipe).
With a :class:`~raikit.models.privacy.PrivacySpec` it learns with DP-SGD through the same
privacy path as ``rai train`` (each text is one protected example). The result is a raikit
checkpoint (architecture ``encoder-mlm``) with its ``tokenizer/``, which
``rai train --arch encoder --init DIR`` fine-tunes for classification.

The WordPiece vocabulary itself is fitted on the corpus outside DP-SGD: a token kept in it
(at least two occurrences) may reveal a word of the corpus, and the record says so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from raikit.models.checkpoint import (
    Checkpoint,
    model_config,
    save_checkpoint,
)
from raikit.models.errors import DataError
from raikit.models.files import staged_directory
from raikit.models.loop import DistributedContext, clipping_summary
from raikit.models.provenance import package_versions, utc_now
from raikit.models.settings import PositiveFloat, PositiveInt, Seed, Settings
from raikit.models.tensorboard_log import log_dir, tensorboard_log

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable
    from raikit.models.privacy import PrivacySpec

MSG_VOCABULARY_NOT_PRIVATE = (
    "the WordPiece vocabulary is fitted on the corpus outside DP-SGD (tokens seen at least "
    "twice): the guarantee covers the weights, not the vocabulary"
)


class _PretrainSettings(Settings):
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    max_length: PositiveInt
    vocab_size: PositiveInt
    seed: Seed


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
    privacy: PrivacySpec | None = None,
    force: bool = False,
    progress: bool = True,
    tensorboard: bool | Path = True,
) -> Checkpoint:
    """Train a tokenizer and a small BERT masked language model on ``table[text]``.

    Parameters
    ----------
    privacy : PrivacySpec, optional
        Train with DP-SGD (Opacus, Poisson sampling); each text is one protected example.
    tensorboard : bool or Path
        Log each epoch's entry in the checkpoint's ``tensorboard/`` (``True``), in the
        directory given, or not at all (``False``).

    Returns
    -------
    Checkpoint
        ``encoder-mlm`` checkpoint; its record holds the per-epoch masked-token loss (and ε
        so far) and, when private, the guarantee in ``privacy``.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from tqdm.auto import tqdm

    from raikit.models.inputs import fit_inputs, load_tokenizer
    from raikit.models.transformer import (
        build_masked_lm,
        position_inputs,
        small_encoder_config,
        train_wordpiece,
    )

    _PretrainSettings(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        vocab_size=vocab_size,
        seed=seed,
    )  # one ConfigError line for a bad value, before anything is trained
    if text not in table.frame.columns:
        raise DataError(f"text column '{text}' not found in {table.source}")
    out_dir = Path(out_dir)
    with staged_directory(out_dir, overwrite=force) as staging:
        texts = table.frame[text].astype(str).tolist()
        train_wordpiece(texts, staging, vocab_size=vocab_size)
        tokenizer = load_tokenizer(staging / "tokenizer")
        inputs = fit_inputs("hf-tokenizer", table.frame, [], [text], {"max_length": max_length})
        encoded = tokenizer(
            texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
        )
        torch.manual_seed(seed)
        hf_config = small_encoder_config(len(tokenizer), max_length)
        raw, private, notes = _private_training(
            build_masked_lm(hf_config), privacy, len(texts), batch_size, epochs
        )
        model = raw
        optimizer = torch.optim.AdamW(raw.parameters(), lr=learning_rate)
        generator = torch.Generator().manual_seed(seed)  # masking
        loader = DataLoader(
            TensorDataset(encoded["input_ids"], encoded["attention_mask"]),
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )
        if private is not None:
            model, optimizer, loader = private.attach(raw, optimizer, loader)
        special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
        history, stopped_for_budget = [], False
        logs = log_dir(tensorboard, staging)
        with tensorboard_log(logs, first_epoch=1) as write_log:
            for epoch in tqdm(range(1, epochs + 1), desc="pretraining", disable=not progress):
                if private is not None and private.budget_spent():
                    stopped_for_budget = True
                    notes.append(private.budget_message(last_epoch=epoch - 1))
                    break
                model.train()
                total, seen, norms = 0.0, 0, []
                with _physical_batches(loader, optimizer, private, batch_size) as batches:
                    for ids, mask in batches:
                        masked, labels = _mask_tokens(ids, special, tokenizer, generator)
                        optimizer.zero_grad(set_to_none=True)
                        logits = model(
                            input_ids=masked, attention_mask=mask, **position_inputs(masked)
                        ).logits
                        loss = _masked_token_loss(logits, labels)
                        loss.backward()
                        optimizer.step()
                        if private is not None:
                            norms.append(private.last_step_norms())
                        total, seen = total + loss.item() * len(ids), seen + len(ids)
                entry = {
                    "epoch": epoch,
                    "mlm_loss": round(total / max(seen, 1), 6),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                }
                if private is not None:
                    entry["epsilon"] = round(private.epsilon(), 6)
                    entry |= clipping_summary(
                        norms, private.spec.max_grad_norm, DistributedContext()
                    )
                history.append(entry)
                if write_log is not None:
                    write_log(entry)
        if private is not None:
            model._close()  # remove Opacus' hooks from the module we save
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
                "privacy": privacy.to_dict() if privacy is not None else None,
            },
            "epochs": history,
            "privacy": private.record(len(history), stopped_for_budget)
            if private is not None
            else {"differentially_private": False},
            "notes": notes,
            "packages": package_versions(),
        }
        raw.eval()
        save_checkpoint(staging, raw, config, record, {"train": list(range(len(texts)))})
    return Checkpoint(out_dir, config, record, {"train": list(range(len(texts)))})


def _private_training(model, privacy, n_texts: int, batch_size: int, epochs: int):
    """``model`` made fit for Opacus, its DP engine (``None`` without ``privacy``), notes."""
    if privacy is None:
        return model, None, []
    import warnings

    from raikit.models.privacy import PrivateTraining, fix_module

    # Token ids never require gradients: Opacus' hooks fire on module outputs, as intended.
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    from raikit.models.transformer import allow_private_masked_lm

    allow_private_masked_lm(model)
    model, changes = fix_module(model)
    private = PrivateTraining(privacy, n_texts, batch_size, epochs)
    private.module_changes = changes
    notes = [f"changed for DP-SGD by ModuleValidator.fix: {c}" for c in changes]
    return model, private, [*notes, MSG_VOCABULARY_NOT_PRIVATE]


def _physical_batches(loader, optimizer, private, batch_size: int):
    """The loader itself, or, when private, Opacus' split of each logical batch."""
    if private is None:
        return contextlib.nullcontext(loader)
    from opacus.utils.batch_memory_manager import BatchMemoryManager

    physical = private.spec.max_physical_batch_size or batch_size
    return BatchMemoryManager(
        data_loader=loader, max_physical_batch_size=physical, optimizer=optimizer
    )


def _masked_token_loss(logits, labels):
    """Each text's mean loss over its masked tokens, averaged over the batch's texts.

    Per text, not per token of the batch: a text's gradient then depends on that text alone,
    which per-example clipping needs. A text with no masked token adds nothing; an empty
    (Poisson) batch gives a zero loss that still steps.
    """
    import torch

    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=-100, reduction="none"
    )
    masked = (labels != -100).sum(dim=1).clamp_min(1)
    return (per_token.sum(dim=1) / masked).sum() / max(len(labels), 1)


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
