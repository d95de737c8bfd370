"""k-anonymity and l-diversity checked against a brute-force count over the rows."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raikit.audit.pii.reidentification import assess_reidentification
from raikit.models.errors import ConfigError


def _frame(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "sex": rng.choice(["F", "M"], n),
            "zip": rng.choice(["02139", "02140", "10001", None], n),
            "diagnosis": rng.choice(["flu", "cold", "asthma"], n),
        }
    )


def _brute(frame, qis, sensitive):
    keys = [tuple("<na>" if pd.isna(v) else str(v) for v in row) for row in frame[qis].values]
    sizes = Counter(keys)
    values = defaultdict(set)
    for key, value in zip(keys, frame[sensitive], strict=True):
        values[key].add(value)
    return sizes, min(len(v) for v in values.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(seed):
    frame = _frame(seed)
    qis = ["age", "sex", "zip"]
    result = assess_reidentification(frame, qis, ["diagnosis"])
    sizes, l_min = _brute(frame, qis, "diagnosis")
    assert result.k_anonymity == min(sizes.values())
    assert result.n_classes == len(sizes)
    assert result.unique_rows == sum(1 for s in sizes.values() if s == 1)
    assert result.unique_share == pytest.approx(result.unique_rows / len(frame))
    assert result.l_diversity == {"diagnosis": l_min}
    assert sum(b.rows for b in result.class_sizes) == len(frame)
    assert sum(b.classes for b in result.class_sizes) == len(sizes)
    assert [w.size for w in result.worst_classes] == sorted(sizes.values())[:5]


def test_worst_classes_are_described_not_listed():
    frame = pd.DataFrame({"age": [33, 33, 33, 97], "town": ["Oslo", "Oslo", "Oslo", "Tromsø"]})
    result = assess_reidentification(frame, ["age", "town"])
    assert result.k_anonymity == 1
    worst = result.worst_classes[0]
    assert worst.size == 1 and worst.rarest_value_rows == 1
    text = result.model_dump_json()
    assert "97" not in text and "Tromsø" not in text
    assert any(f.code == "low_k_anonymity" and f.severity == "critical" for f in result.findings)


def test_k_anonymous_table_has_no_finding():
    frame = pd.DataFrame({"sex": ["F"] * 6 + ["M"] * 5, "y": list("abababababa")})
    result = assess_reidentification(frame, ["sex"], ["y"])
    assert result.k_anonymity == 5 and result.l_diversity == {"y": 2}
    assert result.findings == []


def test_unknown_column_is_a_config_error():
    with pytest.raises(ConfigError, match="not found"):
        assess_reidentification(pd.DataFrame({"a": [1]}), ["b"])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_row_order_does_not_matter(seed):
    frame = _frame(seed % 7, n=60)
    shuffled = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
    a = assess_reidentification(frame, ["age", "sex"], ["diagnosis"])
    b = assess_reidentification(shuffled, ["age", "sex"], ["diagnosis"])
    assert (a.k_anonymity, a.unique_rows, a.n_classes, a.l_diversity) == (
        b.k_anonymity,
        b.unique_rows,
        b.n_classes,
        b.l_diversity,
    )
    assert a.class_sizes == b.class_sizes


def test_a_table_without_rows_has_no_classes():
    empty = pd.DataFrame({"age": pd.Series([], dtype=float), "dx": pd.Series([], dtype=object)})
    result = assess_reidentification(empty, ["age"], ["dx"])
    assert (result.n_classes, result.k_anonymity, result.l_diversity) == (0, 0, {"dx": 0})
    assert result.worst_classes == []
