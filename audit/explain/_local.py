"""Local explanations: one chosen row's attributions as the report shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from raikit.audit.explain._disclosure import Disclosure
from raikit.audit.explain._ig import Attributions
from raikit.audit.explain.result import FeatureScore, LocalExplanation, TokenScore

MAX_LOCAL_FEATURES = 12


def y_true_codes(frame: pd.DataFrame, label: str | None, classes: list[str]) -> np.ndarray | None:
    if label is None or label not in frame.columns:
        return None
    from raikit.models.schema import label_text

    lookup = {name: i for i, name in enumerate(classes)}
    return frame[label].map(label_text).map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def as_map(values: np.ndarray, shape: list[int]) -> list[list[float]]:
    return np.asarray(values, dtype=np.float64).reshape(shape[-2:]).round(6).tolist()


def _feature(disclosure: Disclosure, feature: str, value: str, score: float) -> FeatureScore:
    shown, masked = disclosure.cell(feature, value)
    return FeatureScore(feature=feature, value=shown, score=score, masked=masked)


def _token(disclosure: Disclosure, word: str, score: float) -> TokenScore:
    shown, masked = disclosure.word(word)
    return TokenScore(text=shown, score=score, masked=masked)


def local_explanation(
    engine,
    attributions: Attributions,
    position: int,
    kind: str,
    why: str,
    meta: dict,
    disclosure: Disclosure,
) -> LocalExplanation:
    """The explanation of one row, its values passed through ``disclosure`` (never raw)."""
    scores, units = attributions.scores[position], attributions.units[position]
    fields: dict = {}
    if engine.kind == "tabular":
        order = np.argsort(-np.abs(scores), kind="stable")[:MAX_LOCAL_FEATURES]
        values = attributions.values[position]
        fields["features"] = [
            _feature(disclosure, units[j], values[j], float(scores[j])) for j in order
        ]
    elif engine.kind == "text":
        fields["tokens"] = [
            _token(disclosure, w, float(s)) for w, s in zip(units, scores, strict=True)
        ]
    else:
        fields["image"] = as_map(attributions.images[position], engine.shape)
        fields["attribution_map"] = as_map(scores, engine.shape)
        fields["saliency_map"] = as_map(engine.saliency(attributions, [position])[0], engine.shape)
    delta = attributions.delta
    return LocalExplanation(
        kind=kind,
        why=why,
        convergence_delta=float(delta[position]) if delta is not None else None,
        **meta,
        **fields,
    )


def row_meta(frame, position, probabilities, y_true, classes, groups) -> dict:
    """What a local explanation says of its row; ``groups`` holds the rows' group labels."""
    predicted = int(probabilities[position].argmax())
    label = frame.index[position]
    return {
        "row": int(label) if isinstance(label, (int, np.integer)) else position,
        "group": {str(a): str(groups[a].iloc[position]) for a in groups.columns},
        "predicted": classes[predicted],
        "actual": (
            classes[y_true[position]] if y_true is not None and y_true[position] >= 0 else None
        ),
        "probability": float(probabilities[position, predicted]),
    }
