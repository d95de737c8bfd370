"""Proxy ranking: a copy of the attribute is a perfect proxy, independent noise is none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.proxies import rank_proxies, strong_proxies


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
    assert ranked[0].normalized_mutual_information == pytest.approx(1.0)
    assert ranked[-1].normalized_mutual_information < 0.01


def test_hand_computed_nmi_on_a_small_table():
    # Two equiprobable groups, a feature equal to the group on 3 of 4 cells of a 2x2 table:
    # counts (a,x)=3, (a,y)=1, (b,x)=1, (b,y)=3 out of 8. H(G)=H(F)=ln 2 and
    # I = sum p log(p/(p_g p_f)) = 2*(3/8) ln(3/2) + 2*(1/8) ln(1/2); NMI (arithmetic) = I/ln 2.
    frame = pd.DataFrame(
        {"g": list("aaaabbbb"), "f": list("xxxyxyyy")},
    )
    expected = (0.75 * np.log(1.5) + 0.25 * np.log(0.5)) / np.log(2)
    (proxy,) = rank_proxies(frame, "g", ["f"])
    assert proxy.normalized_mutual_information == pytest.approx(expected)


def test_strong_proxies_keeps_only_those_above_the_threshold(frame):
    found = strong_proxies(frame, "group", ["copy", "leaky", "noise"], threshold=0.2)
    assert [p.feature for p in found] == ["copy", "leaky"]
