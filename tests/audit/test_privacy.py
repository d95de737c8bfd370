"""Membership-inference attacks on planted models: an overfit one leaks, a DP one does not."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from raikit.audit.predictor import load_predictor
from raikit.audit.privacy import MembershipConfig, assess_membership_inference
from raikit.audit.privacy._lira import balanced_halves, recipe_from_record
from raikit.audit.privacy._stats import dp_max_auc
from raikit.audit.runner import AuditConfig, run_audit
from raikit.models.data import LoadedTable, frame_sha256, load_table
from raikit.models.errors import ConfigError, DataError
from raikit.models.privacy import PrivacySpec
from raikit.models.train import TrainSpec, train
from raikit.reports import render


def planted_table(n_rows: int, seed: int = 0) -> LoadedTable:
    """One feature, and in group 'a' a unique record id and 40% flipped labels.

    A model can memorise the labels of its group-'a' training rows through their ids (ids of
    held-out rows are unseen), and only those: group 'b' rows share one id and their label is
    ``x > 0``, which a held-out row's x predicts as well. The planted signal is leakage
    concentrated in group 'a'.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_rows)
    group = np.where(np.arange(n_rows) % 2 == 0, "a", "b")
    flip = (group == "a") & (rng.random(n_rows) < 0.4)
    y = (x > 0) ^ flip
    frame = pd.DataFrame(
        {
            "x": x,
            "record_id": [f"r{i:05d}" if g == "a" else "none" for i, g in enumerate(group)],
            "group": group,
            "y": np.where(y, "yes", "no"),
        }
    )
    return LoadedTable(frame=frame, source="planted", sha256=frame_sha256(frame))


OVERFIT = TrainSpec(
    label="y",
    sensitive=("group",),
    hidden=(64,),
    dropout=0.0,
    epochs=40,
    patience=40,
    batch_size=32,
    learning_rate=0.01,
    weight_decay=0.0,
    # A one-hot column per record id, kept however rare: the planted way to memorise rows.
    max_categories=1000,
    min_frequency=1,
    validation_fraction=0.25,
    test_fraction=0.25,
)


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    table = planted_table(400)
    path = tmp_path_factory.mktemp("overfit") / "model"
    train(table, OVERFIT, path, progress=False)
    return table, load_predictor(path)


@pytest.fixture(scope="module")
def overfit_result(overfit):
    table, predictor = overfit
    return assess_membership_inference(
        predictor, table, ("group",), MembershipConfig(shadows=2, seed=0)
    )


def test_overfit_model_leaks_membership(overfit_result):
    result = overfit_result
    loss = next(a for a in result.attacks if a.name == "loss")
    assert loss.auc.value > 0.6
    assert result.epsilon_lower_bound > 0
    assert result.verdict == "no_guarantee"
    assert not result.dp.differentially_private
    names = {a.name for a in result.attacks}
    assert names == {"loss", "confidence", "lira-online", "lira-offline", "rmia"}
    # With one shadow without each row, RMIA's comparison with population rows finds more than
    # LiRA's one-sided test on the same shadows (0.85 against 0.61 when measured).
    by_name = {a.name: a.auc for a in result.attacks}
    assert by_name["rmia"].lower > by_name["lira-offline"].upper
    # Balanced sample: 200 training rows, 200 held out (validation + test): 200 each.
    assert result.n_members == result.n_nonmembers == 200
    assert result.auc == max(a.auc.value for a in result.attacks)
    assert "membership_leak" in {f.code for f in result.findings}


def test_leak_is_concentrated_in_the_group_the_model_can_memorise(overfit_result):
    groups = {g.group: g for g in overfit_result.per_group}
    assert groups["a"].n_members + groups["b"].n_members == overfit_result.n_members
    assert groups["a"].auc.value > 0.9
    assert groups["a"].auc.lower > groups["b"].auc.upper
    flagged = [f for f in overfit_result.findings if f.code == "group_more_vulnerable"]
    assert [f.message.split(" ")[0] for f in flagged] == ["group=a"]


def test_low_fpr_resolution_is_stated(overfit_result):
    loss = next(a for a in overfit_result.attacks if a.name == "loss")
    at_1, at_01 = loss.rates
    # 200 non-members: FPR 1% is observable (>= 100), 0.1% is not (needs 1,000).
    assert (at_1.resolvable, at_01.resolvable) == (True, False)
    assert at_01.nonmembers_observable == 1000
    codes = [f.code for f in overfit_result.findings]
    assert "fpr_not_resolvable" in codes


def test_result_serialises_without_nan(overfit_result):
    text = overfit_result.model_dump_json()
    assert "NaN" not in text
    assert json.loads(text)["auc"] == overfit_result.auc


def test_dp_model_stays_within_its_guarantee(tmp_path):
    # Noise multiplier 3 for 5 epochs gives a small epsilon (about 0.6 at delta 1e-4).
    table = planted_table(2000, seed=1)
    spec = OVERFIT.replace(
        epochs=5,
        batch_size=64,
        privacy=PrivacySpec(noise_multiplier=3.0),
    )
    train(table, spec, tmp_path / "dp", progress=False)
    result = assess_membership_inference(
        load_predictor(tmp_path / "dp"), table, (), MembershipConfig(shadows=2, seed=0)
    )
    epsilon = result.dp.epsilon
    assert result.dp.differentially_private and epsilon < 1.0
    # The MLP trains with raikit's clipping engine, and the report says so.
    assert result.dp.engine == "raikit-bookkeeping" and result.dp.engine_fallback_reason is None
    evidence = run_audit(
        table,
        AuditConfig(label=spec.label, n_bootstrap=100),
        load_predictor(tmp_path / "dp"),
        {"membership_inference": MembershipConfig(shadows=0, seed=0)},
    )
    assert "clipping engine raikit-bookkeeping" in render(evidence, "md")
    assert result.epsilon_lower_bound <= epsilon
    assert result.verdict == "consistent"
    assert "dp_guarantee_violated" not in {f.code for f in result.findings}
    # Under no leakage the AUC of n members vs n non-members has standard error
    # sqrt((2n + 1) / (12 n^2)) (Mann-Whitney); 1,000 each: 0.0129. Four standard errors
    # bound every attack's chance deviation, far below what this epsilon would allow.
    n = result.n_members
    assert n == 1000
    tolerance = 4 * math.sqrt((2 * n + 1) / (12 * n * n))
    assert tolerance < dp_max_auc(epsilon, result.dp.delta) - 0.5
    for attack in result.attacks:
        assert abs(attack.auc.value - 0.5) < tolerance, attack.name
    assert result.dp.max_auc == pytest.approx(dp_max_auc(epsilon, result.dp.delta))
    assert result.dp_bound_fpr[0] == 0.0 and result.dp_bound_tpr[0] == result.dp.delta


def test_a_false_dp_claim_is_a_critical_finding(overfit, overfit_result):
    # The overfit model, its record edited to claim epsilon 0.5: the attacks prove more.
    table, predictor = overfit
    record = dict(predictor.checkpoint.record)
    record["privacy"] = {"differentially_private": True, "epsilon": 0.5, "delta": 1e-5}
    checkpoint = dataclasses.replace(predictor.checkpoint, record=record)
    claimed = dataclasses.replace(
        predictor, model=dataclasses.replace(predictor.model, checkpoint=checkpoint)
    )
    result = assess_membership_inference(claimed, table, (), MembershipConfig(shadows=0))
    assert result.epsilon_lower_bound > 0.5
    assert result.verdict == "inconsistent"
    [critical] = [f for f in result.findings if f.severity == "critical"]
    assert critical.code == "dp_guarantee_violated" and "claimed epsilon 0.5" in critical.message
    from raikit.reports._membership_chart import meaning

    assert "the claim does not hold" in meaning(result)


def test_other_data_is_refused(overfit):
    _, predictor = overfit
    with pytest.raises(DataError, match="needs the model's own training data; builtin:arrests"):
        assess_membership_inference(
            predictor, load_table("arrests"), (), MembershipConfig(shadows=0)
        )


@pytest.mark.parametrize("shadows", [1, -2])
def test_bad_shadow_counts_are_refused(shadows):
    with pytest.raises(ConfigError, match="--shadows must be 0"):
        MembershipConfig(shadows=shadows)


def test_threshold_attacks_alone_when_no_shadows(overfit):
    table, predictor = overfit
    result = assess_membership_inference(predictor, table, (), MembershipConfig(shadows=0))
    assert [a.name for a in result.attacks] == ["loss", "confidence"]
    assert result.n_shadows == 0
    assert "lira_not_run" in {f.code for f in result.findings}


def test_balanced_halves_give_every_row_to_half_the_shadows():
    given = balanced_halves(500, 6, np.random.default_rng(0))
    assert (given.sum(axis=0) == 3).all()
    assert abs(given.sum(axis=1) - 250).max() < 50


def test_recipe_is_rebuilt_from_the_training_record(overfit):
    _, predictor = overfit
    recipe = recipe_from_record(predictor.checkpoint.record)
    # Shadows keep the columns the target kept, on half of its rows.
    assert recipe == OVERFIT.replace(accept_free_text=True)


def test_recipe_of_a_dp_record_keeps_its_privacy_options():
    spec = OVERFIT.replace(privacy=PrivacySpec(noise_multiplier=2.0))
    from raikit.models.train import _hyperparameters

    record = {"hyperparameters": json.loads(json.dumps(_hyperparameters(spec)))}
    assert recipe_from_record(record) == spec.replace(accept_free_text=True)


@pytest.mark.parametrize(
    ("arch", "dataset", "rows", "extra"),
    [("cnn", "digits", 400, {}), ("rnn", "identity-text", 160, {"max_length": 10})],
)
def test_shadow_attack_runs_on_other_architectures(arch, dataset, rows, extra, tmp_path):
    # Images and text go through the same path: shadows from the recorded recipe (same arch),
    # scores from the model's logits (audit.torch_model).
    full = load_table(dataset)
    frame = full.frame.sample(n=rows, random_state=0).reset_index(drop=True)
    table = LoadedTable(frame, full.source, full.sha256, full.spec)
    spec = TrainSpec(label=full.spec.label, arch=arch, epochs=1, batch_size=16, **extra)
    checkpoint = train(table, spec, tmp_path / "model", progress=False)
    assert recipe_from_record(checkpoint.record).arch == arch
    result = assess_membership_inference(
        load_predictor(tmp_path / "model"), table, (), MembershipConfig(shadows=2)
    )
    assert [a.name for a in result.attacks][-2:] == ["lira-offline", "rmia"]
    assert all(0 <= a.auc.value <= 1 for a in result.attacks)
    held_out = len(checkpoint.split["validation"]) + len(checkpoint.split["test"])
    assert result.n_members == result.n_nonmembers == held_out


def test_risk_register_scores_a_broken_dp_claim_high(overfit_result):
    from raikit.audit.impact.risk import risk_register
    from tests.reports.conftest import build_evidence

    broken = overfit_result.model_copy(
        update={
            "verdict": "inconsistent",
            "dp": overfit_result.dp.model_copy(
                update={"differentially_private": True, "epsilon": 0.5, "delta": 1e-5}
            ),
        }
    )
    evidence = build_evidence().with_result("membership_inference", broken)
    [privacy] = [r for r in risk_register(evidence) if r.concern == "privacy"]
    assert privacy.likelihood == 5
    assert "above the claimed 0.5: the DP guarantee does not hold" in privacy.basis


def test_report_section_escapes_group_names(overfit_result):
    from raikit.reports import render
    from tests.reports.conftest import build_evidence

    hostile = "<script>alert(1)</script>|*x*"
    groups = [g.model_copy(update={"group": hostile}) for g in overfit_result.per_group[:1]]
    evidence = build_evidence().with_result(
        "membership_inference", overfit_result.model_copy(update={"per_group": groups})
    )
    html = render(evidence, "html")
    section = html[html.index('<section id="membership-inference">') :]
    assert "<script>alert" not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    markdown = render(evidence, "md")
    assert (
        "<script>" not in markdown and r"&lt;script&gt;alert(1)&lt;/script&gt;\|\*x\*" in markdown
    )
    assert "| LiRA offline |" in markdown


def test_rmia_population_reaches_past_the_attacked_rows(overfit):
    # 50 members and 50 non-members attacked; RMIA's population is another draw of 50 of the
    # 200 held-out rows, so most of it is scored only for RMIA.
    table, predictor = overfit
    result = assess_membership_inference(
        predictor, table, (), MembershipConfig(shadows=2, seed=0, max_samples=50)
    )
    rmia = next(a for a in result.attacks if a.name == "rmia")
    assert result.n_members == result.n_nonmembers == 50
    assert rmia.auc.value > 0.6  # the overfit model leaks to it here too
