"""Seeded metamorphic perturbations: changes that should not change a decision.

Each perturbation takes the audited rows, a strength and a random generator and returns a
changed copy; the registry :data:`PERTURBATIONS` lists them with the input kind they apply
to and their default strengths. Sensitive columns are never perturbed, so a flip is the
model's brittleness, not a change of group.

- tabular: ``numeric_noise`` (Gaussian noise of ``strength`` x each numeric column's standard
  deviation), ``category_swap`` (each categorical value replaced by another observed value
  with probability ``strength``);
- text: ``typos`` (a swapped, dropped or doubled letter), ``case`` (a word's case flipped),
  ``punctuation`` (a punctuation mark added), ``whitespace`` (a space doubled or a tab),
  each applied to a word with probability ``strength``;
- image: ``gaussian_noise`` (standard deviation ``strength`` x the pixel range),
  ``brightness`` (``strength`` x the pixel range added), ``pixel_shift`` (the image moved by
  ``strength`` pixels in a random direction); pixels stay in the valid range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PerturbContext:
    """What a perturbation may touch: columns by role, and for images their shape and range."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: str | None = None
    pixels: list[str] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None
    pixel_range: tuple[float, float] = (0.0, 1.0)


Apply = Callable[[pd.DataFrame, float, np.random.Generator, PerturbContext], pd.DataFrame]


@dataclass(frozen=True)
class Perturbation:
    """A named perturbation, the input kind it applies to and its default strengths."""

    name: str
    kind: str
    strengths: tuple[float, ...]
    description: str
    apply: Apply


def _numeric_noise(frame, strength, rng, context):
    out = frame.copy()
    for column in context.numeric:
        values = out[column].astype(np.float64)
        std = float(values.std()) or 1.0
        out[column] = values + rng.normal(0.0, strength * std, len(values))
    return out


def _category_swap(frame, strength, rng, context):
    out = frame.copy()
    for column in context.categorical:
        codes, categories = pd.factorize(out[column], sort=True)
        k = len(categories)
        if k < 2:
            continue
        swap = (rng.random(len(out)) < strength) & (codes >= 0)
        # Another category, uniformly: an offset of 1..k-1 never lands on the same value.
        shifted = (codes + rng.integers(1, k, size=len(out))) % k
        new_codes = np.where(swap, shifted, codes)
        values = np.asarray(categories, dtype=object)[np.maximum(new_codes, 0)]
        out[column] = np.where(codes >= 0, values, out[column].to_numpy(dtype=object))
        out[column] = out[column].astype(frame[column].dtype, errors="ignore")
    return out


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 2:
        return word + word
    position = int(rng.integers(len(word) - 1))
    operation = int(rng.integers(3))
    if operation == 0:  # swap two neighbouring letters
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if operation == 1:  # drop a letter
        return word[:position] + word[position + 1 :]
    return word[: position + 1] + word[position] + word[position + 1 :]  # double a letter


def _per_word(
    change: Callable[[str, np.random.Generator], str],
) -> Apply:
    def apply(frame, strength, rng, context):
        out = frame.copy()
        texts = []
        for text in out[context.text].astype(str):
            words = text.split(" ")
            hit = rng.random(len(words)) < strength
            texts.append(
                " ".join(change(w, rng) if h and w else w for w, h in zip(words, hit, strict=True))
            )
        out[context.text] = texts
        return out

    return apply


def _flip_case(word: str, rng: np.random.Generator) -> str:
    return word.swapcase() if rng.random() < 0.5 else word.upper()


def _punctuate(word: str, rng: np.random.Generator) -> str:
    return word + ",.!?;:"[int(rng.integers(6))]


def _space(word: str, rng: np.random.Generator) -> str:
    return word + (" " if rng.random() < 0.5 else "\t")


def _images(frame: pd.DataFrame, context: PerturbContext) -> np.ndarray:
    pixels = frame[context.pixels].to_numpy(dtype=np.float64)
    shape = context.image_shape or (int(round(np.sqrt(pixels.shape[1]))),) * 2
    return pixels.reshape(len(frame), *shape)


def _with_images(frame: pd.DataFrame, images: np.ndarray, context: PerturbContext):
    out = frame.copy()
    low, high = context.pixel_range
    flat = np.clip(images, low, high).reshape(len(frame), -1)
    out[context.pixels] = flat.astype(np.float64)
    return out


def _gaussian_noise(frame, strength, rng, context):
    images = _images(frame, context)
    low, high = context.pixel_range
    return _with_images(
        frame, images + rng.normal(0, strength * (high - low), images.shape), context
    )


def _brightness(frame, strength, rng, context):
    low, high = context.pixel_range
    return _with_images(frame, _images(frame, context) + strength * (high - low), context)


def _pixel_shift(frame, strength, rng, context):
    images = _images(frame, context)
    shift = int(round(strength))
    directions = rng.integers(4, size=len(images))
    shifted = np.full_like(images, context.pixel_range[0])
    # Last two axes are (height, width); the vacated border takes the background value.
    for direction, (dy, dx) in enumerate(((shift, 0), (-shift, 0), (0, shift), (0, -shift))):
        chosen = directions == direction
        if not chosen.any():
            continue
        moved = np.roll(images[chosen], (dy, dx), axis=(-2, -1))
        if dy > 0:
            moved[..., :dy, :] = context.pixel_range[0]
        elif dy < 0:
            moved[..., dy:, :] = context.pixel_range[0]
        if dx > 0:
            moved[..., :, :dx] = context.pixel_range[0]
        elif dx < 0:
            moved[..., :, dx:] = context.pixel_range[0]
        shifted[chosen] = moved
    return _with_images(frame, shifted, context)


PERTURBATIONS: dict[str, Perturbation] = {}


def register_perturbation(perturbation: Perturbation, *, force: bool = False) -> None:
    """Add a perturbation; an existing name is refused unless ``force``."""
    if perturbation.name in PERTURBATIONS and not force:
        raise ValueError(f"perturbation '{perturbation.name}' is already registered")
    PERTURBATIONS[perturbation.name] = perturbation


for _perturbation in (
    Perturbation(
        "numeric_noise",
        "tabular",
        (0.05, 0.1, 0.25, 0.5),
        "Gaussian noise, strength x the column's standard deviation, on numeric columns",
        _numeric_noise,
    ),
    Perturbation(
        "category_swap",
        "tabular",
        (0.05, 0.1, 0.25),
        "each non-sensitive categorical value swapped for another with probability strength",
        _category_swap,
    ),
    Perturbation(
        "typos", "text", (0.05, 0.1, 0.2), "a letter swapped, dropped or doubled", _per_word(_typo)
    ),
    Perturbation("case", "text", (0.1, 0.3, 0.5), "a word's case changed", _per_word(_flip_case)),
    Perturbation(
        "punctuation", "text", (0.1, 0.3), "a punctuation mark added", _per_word(_punctuate)
    ),
    Perturbation(
        "whitespace", "text", (0.1, 0.3), "a space doubled or a tab added", _per_word(_space)
    ),
    Perturbation(
        "gaussian_noise",
        "image",
        (0.02, 0.05, 0.1, 0.2),
        "Gaussian pixel noise, strength x the pixel range",
        _gaussian_noise,
    ),
    Perturbation(
        "brightness",
        "image",
        (0.05, 0.1, 0.2),
        "strength x the pixel range added to every pixel",
        _brightness,
    ),
    Perturbation(
        "pixel_shift", "image", (1.0, 2.0), "the image moved by strength pixels", _pixel_shift
    ),
):
    register_perturbation(_perturbation)
del _perturbation


def perturbation_kind(input_kind: str) -> str:
    """The perturbation kind of a model input kind (``words``, ``hf-tokenizer``: text)."""
    return {"words": "text", "hf-tokenizer": "text", "sequence": "tabular"}.get(
        input_kind, input_kind
    )
