"""Proxy ranking: a copy of the attribute is a perfect proxy, independent noise is none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raikit.audit.proxies import rank_proxies, strong_proxies


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    group = rng.choice(["a", "b"], size=2_000)
    return pd.DataFrame(
        {
            "group": group,
            "copy": np.where(group == "a", "x", "y"),  # a renamed copy of the attribute
            "leaky": np.where(group == "a", 1.0, 0.0) + rng.normal(0, 0.5, size=2_000),
            "noise": rng.normal(size=2_000),
        }
    )


def test_a_renamed_copy_ranks_first_with_nmi_one_and_noise_last(frame):
    ranked = rank_proxies(frame, "group", ["group", "noise", "leaky", "copy"])
    assert [p.feature for p in ranked] == ["copy", "leaky", "noise"]
    assert ranked[0].adjusted_mutual_information == pytest.approx(1.0)
    assert ranked[-1].adjusted_mutual_information < 0.01


def test_a_feature_independent_by_design_scores_zero():
    # Every (group, value) cell holds the same count: the sample shows no association at all.
    frame = pd.DataFrame({"g": list("aabbccdd") * 3, "f": list("xyxyxyxy") * 3})
    (proxy,) = rank_proxies(frame, "g", ["f"])
    assert proxy.adjusted_mutual_information == 0.0


def test_chance_association_on_small_samples_is_rarely_called_a_proxy():
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(1)
    plain_hits = adjusted_hits = 0
    for _ in range(200):
        frame = pd.DataFrame({"g": rng.integers(0, 8, 48), "f": rng.integers(0, 2, 48)})
        plain_hits += normalized_mutual_info_score(frame["g"], frame["f"]) >= 0.1
        adjusted_hits += bool(strong_proxies(frame, "g", ["f"], threshold=0.1))
    # Unadjusted NMI would name a proxy in about one sample in seven; chance-adjusted, rarely.
    assert plain_hits >= 20
    assert adjusted_hits <= 10


def test_strong_proxies_keeps_only_those_above_the_threshold(frame):
    found = strong_proxies(frame, "group", ["copy", "leaky", "noise"], threshold=0.2)
    assert [p.feature for p in found] == ["copy", "leaky"]


def test_p_value_is_the_g_test_of_independence():
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(0)
    group = rng.integers(0, 3, 200)
    feature = (group == 0) | (rng.random(200) < 0.3)
    (proxy,) = rank_proxies(pd.DataFrame({"g": group, "f": feature}), "g", ["f"])
    table = pd.crosstab(group, feature).to_numpy()
    _, p_value, _, _ = chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert proxy.p_value == pytest.approx(p_value, rel=1e-9)


def test_forty_chance_words_on_forty_eight_rows_name_no_proxy():
    rng = np.random.default_rng(2)
    named = 0
    for _ in range(20):
        words = {f"w{i}": rng.integers(0, 2, 48) for i in range(40)}
        frame = pd.DataFrame({"g": rng.integers(0, 8, 48), **words})
        named += bool(strong_proxies(frame, "g", list(words)))
    # Bonferroni keeps the family-wise error at 5%: about one trial in 20 may name one. The
    # chi-squared approximation alone named one in 10 of 50 trials of this kind.
    assert named <= 2
