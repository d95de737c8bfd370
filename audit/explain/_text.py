"""Layer Integrated Gradients on the token-embedding layer of raikit's text models.

The baseline replaces every real token by the padding token (special tokens of a Hugging Face
tokenizer, such as ``[CLS]``/``[SEP]``, are kept). Token scores are the attribution summed over
the embedding dimension; sub-word tokens are merged back into the words of the original text
(``##ing`` joins ``walk``), so the report shows the user's words, not the tokenizer's pieces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from raikit.audit.explain._ig import (
    Attributions,
    IGSettings,
    _ig_explain,
    _target_logit,
    adaptive_ig,
)
from raikit.audit.explain._ig import target_probability as _probability
from raikit.audit.torch_model import TorchModel


def _word_spans_words_kind(texts: list[str], max_length: int) -> list[list[tuple[str, list[int]]]]:
    """Words of each text and their token positions (left-padded: words end at the last slot)."""
    from raikit.models.text import words

    spans = []
    for text in texts:
        kept = words(text)[:max_length]
        offset = max_length - len(kept)
        spans.append([(w, [offset + i]) for i, w in enumerate(kept)])
    return spans


def _word_spans_hf(tokenizer, texts: list[str], max_length: int) -> list[list[tuple[str, list]]]:
    """Words of each text and the positions of their sub-word tokens (special tokens dropped)."""
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
        )
        spans = []
        for row, text in enumerate(texts):
            groups: dict[int, list[int]] = {}
            for position, word_id in enumerate(encoded.word_ids(row)):
                if word_id is not None:
                    groups.setdefault(word_id, []).append(position)
            offsets = encoded["offset_mapping"][row]
            spans.append(
                [(text[offsets[p[0]][0] : offsets[p[-1]][1]], p) for _, p in sorted(groups.items())]
            )
        return spans
    # Slow tokenizers have no word ids: merge WordPiece continuations ("##") by hand.
    spans = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
        special = set(tokenizer.all_special_ids)
        merged: list[tuple[str, list[int]]] = []
        for position, token in enumerate(tokenizer.convert_ids_to_tokens(ids)):
            if ids[position] in special:
                continue
            if token.startswith("##") and merged:
                word, positions = merged[-1]
                merged[-1] = (word + token[2:], positions + [position])
            else:
                merged.append((token, [position]))
        spans.append(merged)
    return spans


def embedding_forward(module, layer):
    """``forward(embeddings, *inputs)``: the model with ``layer``'s output replaced.

    The hook is removed in ``finally`` whatever happens inside the model.
    """

    def forward(embeddings, *inputs):
        handle = layer.register_forward_hook(lambda _m, _i, _o: embeddings)
        try:
            return module(*inputs)
        finally:
            handle.remove()

    return forward


class TextLIG:
    """LayerIntegratedGradients on ``embedding_layer()``; scores merged to words."""

    kind = "text"
    method = "layer-integrated-gradients"

    def __init__(self, model: TorchModel, s: IGSettings):
        self.model, self.settings = model, s
        self.layer = model.embedding_layer()
        self.pad = model.pad_token_id()
        self.text_column = model.inputs["text"]
        self.max_length = int(model.inputs["max_length"])
        self.baselines = f"padding token (id {self.pad}) at every real token"
        if model.input_kind == "hf-tokenizer":
            self.baselines += "; special tokens kept"

    def _encode(self, frame: pd.DataFrame) -> tuple[tuple, Any, list]:
        """Token ids (+ mask), the baseline ids and each row's words with their positions."""
        import torch

        inputs = self.model.encode(frame)
        ids = inputs[0]
        texts = frame[self.text_column].astype(str).tolist()
        if self.model.input_kind == "hf-tokenizer":
            tokenizer = self.model.tokenizer()
            special = torch.zeros_like(ids, dtype=torch.bool)
            for token_id in tokenizer.all_special_ids:
                if token_id != self.pad:
                    special |= ids == token_id
            base = torch.where(special, ids, torch.full_like(ids, self.pad))
            spans = _word_spans_hf(tokenizer, texts, self.max_length)
        else:
            base = torch.full_like(ids, self.pad)
            spans = _word_spans_words_kind(texts, self.max_length)
        return inputs, base, spans

    def attribute(self, frame: pd.DataFrame, target: np.ndarray, progress: bool) -> Attributions:
        from captum.attr import LayerIntegratedGradients

        inputs, base, spans = self._encode(frame)
        module = self.model.module
        lig = LayerIntegratedGradients(module, self.layer)
        gap = _target_logit(module, inputs, target) - _target_logit(
            module, (base, *inputs[1:]), target
        )

        def attribute(chunk, rows, steps):
            attr, delta = lig.attribute(
                chunk[0],
                baselines=base[rows],
                additional_forward_args=tuple(chunk[1:]) or None,
                target=target[rows.numpy()].tolist(),
                n_steps=steps,
                internal_batch_size=self.settings.internal_batch_size,
                return_convergence_delta=True,
            )
            return attr.sum(dim=-1), delta

        tokens, delta, used = adaptive_ig(attribute, inputs, gap, self.settings, progress, "LIG")
        scores = [np.array([tokens[r, p].sum() for _, p in row]) for r, row in enumerate(spans)]
        words = [[w for w, _ in row] for row in spans]
        return Attributions(
            units=words,
            values=words,
            scores=scores,
            target=target,
            delta=delta,
            gap=gap,
            steps_used=used,
            state={"inputs": inputs, "base": base, "spans": spans},
        )

    def remove(self, attributions: Attributions, masks: list[np.ndarray]) -> np.ndarray:
        """Probability of the target after replacing the masked words' tokens by padding."""
        inputs = attributions.state["inputs"]
        ids = inputs[0].clone()
        for row, mask in enumerate(masks):
            spans = attributions.state["spans"][row]
            for j in np.flatnonzero(mask):
                ids[row, spans[j][1]] = self.pad
        return _probability(self.model.module, (ids, *inputs[1:]), attributions.target)

    def quality_problem(self, attributions: Attributions, rows: np.ndarray) -> dict[str, Any]:
        """Infidelity and sensitivity are measured on the embeddings (IG there = LIG here)."""
        import torch
        from captum.attr import IntegratedGradients

        idx = torch.from_numpy(rows)
        inputs = tuple(t[idx] for t in attributions.state["inputs"])
        base = attributions.state["base"][idx]
        with torch.no_grad():
            embeddings = self.layer(inputs[0]).detach()
            base_embeddings = self.layer(base).detach()
        forward = embedding_forward(self.model.module, self.layer)
        explainer = IntegratedGradients(forward)
        attributions_full = explainer.attribute(
            embeddings,
            baselines=base_embeddings,
            additional_forward_args=inputs,
            target=attributions.target[rows].tolist(),
            n_steps=attributions.steps_used or self.settings.n_steps,
            internal_batch_size=self.settings.internal_batch_size,
        )
        return {
            "forward": forward,
            "inputs": embeddings,
            "attributions": attributions_full.detach(),
            "baselines": base_embeddings,
            "additional": inputs,
            "explain": _ig_explain(explainer, self.settings, attributions),
            "noise": 0.1 * float(embeddings.std()),
        }
