"""Secret exposure of a text model (Carlini et al., "The Secret Sharer", USENIX Security 2019).

A canary is a random secret of a known format (``"my number is # # # # # #"``, each ``#`` a
digit) written into the training corpus a few times, as a row with a label drawn at random.
Its exposure is ``log2 |R| − log2 rank``, where ``R`` is every fill of the format and ``rank``
the secret's place among them when ordered by the model's log-perplexity. raikit's text
models are classifiers: the log-perplexity of a candidate is the loss of the canary's label
given the candidate's text, ``−log p(label | text)``, which falls when the model has memorised
that text with that label; candidates are ranked by the same order on the logit scale,
``φ = log p − log(1 − p)``. When ``|R|`` is small the rank is exact; otherwise candidates are
sampled and a skew-normal fitted to their ``φ`` extrapolates the rank (the paper's section
4.3, there on log-perplexities: a classifier's loss is bounded below by 0, its ``φ`` is not and
is close to normal, as LiRA uses it); the exposure reported is never below the sampled rank's.

Secrets are spaced digits by default so that each digit is a word of the vocabulary and the
vocabulary (fitted outside DP-SGD) does not hold the secret itself.

:func:`plant_canaries` writes the canaries into a copy of a corpus; :func:`assess_exposure`
measures them. The canary file (:class:`CanarySet`) lists the secrets; no output shows them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from typing_extensions import Self

from raikit.audit.types import Finding, Frozen
from raikit.models.errors import ConfigError, DataError

if TYPE_CHECKING:
    from raikit.audit.policy import Limits
    from raikit.audit.predictor import Predictor

DIGIT = "#"
DEFAULT_FORMAT = "my number is # # # # # #"
#: Up to this many fills of the format, every one is scored and the rank is exact.
MAX_CANDIDATES = 5000
MSG_NO_SLOT = "the canary format must hold at least one '#' (a digit)"


class Canary(Frozen):
    """One planted secret: its text, the label its rows carry, and how often it was written."""

    text: str
    label: str
    insertions: Annotated[int, Field(ge=1)]


class CanarySet(Frozen):
    """The canary file: the format, the columns and the planted secrets."""

    format: str
    text_column: str
    label_column: str
    canaries: Annotated[list[Canary], Field(min_length=1)]

    @model_validator(mode="after")
    def _canaries_fit_the_format(self) -> Self:
        if DIGIT not in self.format:
            raise ValueError(MSG_NO_SLOT)
        for index, canary in enumerate(self.canaries, start=1):
            if not _fits(canary.text, self.format):
                raise ValueError(f"canary {index} does not fill the format '{self.format}'")
        return self


class SecretExposure(Frozen):
    """Exposure of one canary (identified by its number and format, never by its secret)."""

    canary: int
    label: str
    insertions: int
    exposure: float
    exposure_sampled: float
    rank_sampled: int
    n_candidates: int


class ExposureResult(Frozen):
    """Exposure of every canary, the largest, and how the ranks were found."""

    format: str
    space_bits: float
    method: Literal["exact", "skew-normal extrapolation"]
    secrets: list[SecretExposure]
    max_exposure: float
    max_exposure_limit: float
    findings: list[Finding]


def load_canaries(path: Path) -> CanarySet:
    """Read and validate a canary file (JSON, as :func:`plant_canaries` writes it)."""
    from raikit.audit._yaml import load_yaml_model

    return load_yaml_model(Path(path), CanarySet, "canary file", ConfigError)


def _fits(text: str, format: str) -> bool:
    return len(text) == len(format) and all(
        c.isdigit() if f == DIGIT else c == f for c, f in zip(text, format, strict=True)
    )


def _fill(format: str, digits: np.ndarray) -> list[str]:
    """The format with each row of ``digits`` written into its ``#`` slots."""
    parts = format.split(DIGIT)
    texts = []
    for row in digits:
        out = [parts[0]]
        for digit, part in zip(row, parts[1:], strict=True):
            out.append(str(digit))
            out.append(part)
        texts.append("".join(out))
    return texts


def plant_canaries(
    frame: pd.DataFrame,
    text_column: str,
    label_column: str,
    *,
    n_canaries: int = 4,
    insertions: int = 10,
    format: str = DEFAULT_FORMAT,
    seed: int = 0,
) -> tuple[pd.DataFrame, CanarySet]:
    """A copy of ``frame`` with random secrets of ``format`` written in, and their list.

    Each canary is a random fill of ``format`` with a label drawn from the label column's
    values; it is written ``insertions`` times as rows copied from random rows of ``frame``
    (so every other column keeps a valid value) with the canary's text and label, at random
    places. ``frame`` itself is left as it is.
    """
    for column in (text_column, label_column):
        if column not in frame.columns:
            raise ConfigError(f"column '{column}' not found in the corpus")
    if DIGIT not in format:
        raise ConfigError(MSG_NO_SLOT)
    slots = format.count(DIGIT)
    if 10**slots < 10 * n_canaries:
        raise ConfigError(f"'{format}' has {10**slots} fills: too few for {n_canaries} secrets")
    rng = np.random.default_rng(seed)
    labels = sorted(frame[label_column].dropna().astype(str).unique())
    texts: list[str] = []
    while len(texts) < n_canaries:  # distinct secrets
        (text,) = _fill(format, rng.integers(0, 10, (1, slots)))
        texts = texts if text in texts else [*texts, text]
    canaries = [
        Canary(text=text, label=str(rng.choice(labels)), insertions=insertions) for text in texts
    ]
    rows = frame.iloc[rng.integers(0, len(frame), n_canaries * insertions)].copy()
    rows[text_column] = [c.text for c in canaries for _ in range(insertions)]
    rows[label_column] = [c.label for c in canaries for _ in range(insertions)]
    if pd.api.types.is_numeric_dtype(frame[label_column]):
        rows[label_column] = rows[label_column].astype(frame[label_column].dtype)
    planted = pd.concat([frame, rows], ignore_index=True)
    planted = planted.iloc[rng.permutation(len(planted))].reset_index(drop=True)
    return planted, CanarySet(
        format=format, text_column=text_column, label_column=label_column, canaries=canaries
    )


def exposure_from_rank(rank: int, n_space: int) -> float:
    """``log2 |R| − log2 rank``: 0 for the last of ``|R|`` fills, ``log2 |R|`` for the first."""
    return math.log2(n_space) - math.log2(rank)


def extrapolated_exposure(secret: float, candidates: np.ndarray, n_space: int) -> float:
    """``−log2`` of the share of all ``|R|`` fills that would rank above the secret.

    The share is the upper tail, above the secret's ``φ``, of a skew-normal fitted to the
    candidates' ``φ``; kept within ``[0, log2 |R|]``.
    """
    from scipy.stats import skewnorm

    shape, location, scale = skewnorm.fit(candidates)
    log_share = float(skewnorm.logsf(secret, shape, location, scale))
    return min(max(-log_share / math.log(2), 0.0), math.log2(n_space))


def _confidences(
    predictor: Predictor, texts: list[str], label: str, canaries: CanarySet
) -> np.ndarray:
    """``φ = log p − log(1 − p)`` of ``label`` given each text: its log-perplexity, reversed."""
    from raikit.audit.privacy._lira import logit_confidence

    frame = pd.DataFrame({canaries.text_column: texts})
    try:
        return logit_confidence(predictor, frame, [label] * len(texts))
    except DataError as exc:
        raise ConfigError(
            f"secret exposure needs a text model that reads column '{canaries.text_column}' "
            f"alone: {exc}"
        ) from None


def assess_exposure(
    predictor: Predictor,
    canaries: CanarySet,
    *,
    n_candidates: int = MAX_CANDIDATES,
    seed: int = 0,
    limits: Limits | None = None,
) -> ExposureResult:
    """Exposure of each planted secret to ``predictor`` (a text classifier).

    Parameters
    ----------
    predictor : Predictor
        A model that reads ``canaries.text_column`` alone.
    canaries : CanarySet
        The secrets planted in its training corpus (:func:`load_canaries`).
    n_candidates : int
        Fills scored per secret; when the format has no more fills than this, all of them.
    seed : int
        Seed of the sampled candidates.
    limits : Limits, optional
        ``max_exposure``, above which a secret is a finding (raikit's default when None).

    Returns
    -------
    ExposureResult
    """
    from raikit.audit.policy import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
    classes = {str(c) for c in predictor.classes}
    slots = canaries.format.count(DIGIT)
    n_space = 10**slots
    exact = n_space <= n_candidates
    # A stream apart from plant_canaries' own with the same seed, which drew the secrets.
    rng = np.random.default_rng([seed, 2019])
    if exact:
        every = (np.arange(n_space)[:, None] // 10 ** np.arange(slots - 1, -1, -1)) % 10
        fills = _fill(canaries.format, every)
    else:
        fills = _fill(canaries.format, rng.integers(0, 10, (n_candidates, slots)))
    secrets = []
    for number, canary in enumerate(canaries.canaries, start=1):
        if canary.label not in classes:
            raise ConfigError(
                f"canary {number}'s label '{canary.label}' is not a class of the model "
                f"({sorted(classes)})"
            )
        candidates = [text for text in fills if text != canary.text]
        phi = _confidences(predictor, [canary.text, *candidates], canary.label, canaries)
        # Ties count against the secret: the exposure is never overstated.
        rank = 1 + int((phi[1:] >= phi[0]).sum())
        sampled = exposure_from_rank(rank, len(candidates) + 1)
        # The fitted tail extends the sampled rank's reach; it never reports less than it.
        exposure = (
            sampled if exact else max(sampled, extrapolated_exposure(phi[0], phi[1:], n_space))
        )
        secrets.append(
            SecretExposure(
                canary=number,
                label=canary.label,
                insertions=canary.insertions,
                exposure=exposure,
                exposure_sampled=sampled,
                rank_sampled=rank,
                n_candidates=len(candidates),
            )
        )
    largest = max(s.exposure for s in secrets)
    findings = []
    if largest > limits.max_exposure:
        worst = max(secrets, key=lambda s: s.exposure)
        findings.append(
            Finding(
                concern="privacy",
                severity="warning",
                code="secret_exposed",
                message=f"canary {worst.canary} has exposure {worst.exposure:.1f} bits, above "
                f"the limit {limits.max_exposure:g}: the model has memorised a secret written "
                f"{worst.insertions} times into its training text",
            )
        )
    if math.log2(n_space) <= limits.max_exposure:
        findings.append(
            Finding(
                concern="privacy",
                severity="warning",
                code="exposure_limit_unreachable",
                message=f"'{canaries.format}' has {n_space:,} fills ({math.log2(n_space):.1f} "
                f"bits): no exposure can exceed the limit {limits.max_exposure:g}, so the test "
                "cannot conclude; plant secrets of a longer format",
            )
        )
    if not exact:
        findings.append(
            Finding(
                concern="privacy",
                severity="info",
                code="exposure_extrapolated",
                message=f"{n_candidates:,} of the {n_space:,} fills were scored; exposure beyond "
                f"log2 of that ({math.log2(n_candidates + 1):.1f} bits) is read from a fitted "
                "skew-normal, not observed",
            )
        )
    return ExposureResult(
        format=canaries.format,
        space_bits=math.log2(n_space),
        method="exact" if exact else "skew-normal extrapolation",
        secrets=secrets,
        max_exposure=largest,
        max_exposure_limit=limits.max_exposure,
        findings=findings,
    )
