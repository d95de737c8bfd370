import json

import numpy as np
import pandas as pd
import pytest

from raikit.audit.policy import Policy, check
from raikit.audit.predictor import load_predictor
from raikit.audit.runner import AuditConfig, run_audit
from raikit.models.data import LoadedTable, load_table
from raikit.models.errors import ConfigError, DataError
from raikit.models.train import TrainSpec, train

CONFIG = AuditConfig(label="released", sensitive=("colour", "sex"), n_bootstrap=200)


@pytest.fixture(scope="module")
def predictor(arrests_model):
    return load_predictor(arrests_model.path)


def test_same_inputs_and_seed_give_the_same_evidence(arrests_table, predictor):
    first = run_audit(arrests_table, CONFIG, predictor).model_dump()
    second = run_audit(arrests_table, CONFIG, predictor).model_dump()
    for evidence in (first, second):
        evidence["provenance"].pop("created_at")
    assert first == second


def test_own_training_data_audits_the_test_split_only(arrests_table, predictor, arrests_model):
    evidence = run_audit(arrests_table, CONFIG, predictor)
    assert evidence.data.n_rows_audited == len(arrests_model.split["test"])
    assert evidence.data.rows.startswith("test split")
    assert evidence.model.files_sha256.keys() == {
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "split.json",
        "training.json",
    }
    assert any(f.code == "no_dp" for f in evidence.findings)


def test_all_rows_are_flagged_as_optimistic(arrests_table, predictor):
    config = AuditConfig(label="released", sensitive=("sex",), rows="all", n_bootstrap=200)
    evidence = run_audit(arrests_table, config, predictor)
    assert evidence.data.n_rows_audited == 5226
    assert any(f.code == "training_rows_audited" for f in evidence.findings)


def test_other_data_is_audited_whole_and_test_rows_need_the_training_data(arrests_table, predictor):
    sample = arrests_table.frame.sample(500, random_state=1).reset_index(drop=True)
    other = LoadedTable(frame=sample, source="sample.csv", sha256="0" * 64)
    evidence = run_audit(other, CONFIG, predictor)
    assert evidence.data.n_rows_audited == 500 and evidence.data.rows == "all rows"
    with pytest.raises(DataError, match="--rows test needs the model's own training data"):
        run_audit(other, AuditConfig(label="released", sensitive=("sex",), rows="test"), predictor)


def test_unknown_label_values_and_wrong_positive_label(arrests_table, predictor):
    odd = arrests_table.frame.assign(released=arrests_table.frame["released"].str.lower())
    table = LoadedTable(frame=odd, source="odd.csv", sha256="1" * 64)
    with pytest.raises(DataError, match="holds value\\(s\\) \\['no', 'yes'\\] the model never"):
        run_audit(table, CONFIG, predictor)
    config = AuditConfig(label="released", sensitive=("sex",), positive_label="No")
    with pytest.raises(ConfigError, match="the model's positive label is 'Yes', not 'No'"):
        run_audit(arrests_table, config, predictor)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": "some"}, "rows must be one of"),
        ({"threshold": 1.5}, "threshold must be"),
        ({"n_bootstrap": 5}, "n_bootstrap must be at least 100"),
    ],
)
def test_bad_audit_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AuditConfig(label="y", sensitive=("g",), **kwargs)


def test_adult_demographic_parity_matches_the_published_range(tmp_path):
    """Unmitigated logistic regression on Adult: DPD by sex is ~0.15-0.20 in the literature
    (fairlearn and AIF360 documentation)."""
    table = load_table("adult")
    spec = TrainSpec(label="income_per_year", sensitive=("sex",), hidden=(), epochs=5)
    checkpoint = train(table, spec, tmp_path / "lr", progress=False)
    config = AuditConfig(label="income_per_year", sensitive=("sex",), n_bootstrap=200)
    evidence = run_audit(table, config, load_predictor(checkpoint.path))
    dpd = evidence.result("fairness").attributes[0].disparities["demographic_parity_difference"]
    assert 0.15 <= dpd.value <= 0.20
    assert dpd.lower < dpd.value < dpd.upper
    test = table.frame.iloc[checkpoint.split["test"]]
    selected = load_predictor(checkpoint.path).predict_proba(test)[:, 1] >= 0.5
    rates = [selected[(test["sex"] == s).to_numpy()].mean() for s in ("Male", "Female")]
    assert dpd.value == pytest.approx(abs(rates[0] - rates[1]))
    assert np.isfinite(evidence.result("performance").metrics["roc_auc"].value)


def test_a_private_checkpoint_is_audited_on_its_test_split_with_its_guarantee(tmp_path):
    from raikit.audit.impact.concerns import evidence_item
    from raikit.models.privacy import PrivacySpec

    table = load_table("arrests")
    small = LoadedTable(table.frame.iloc[:300], table.source, "sha-of-300-rows", table.spec)
    privacy = PrivacySpec(noise_multiplier=1.0, accountant="rdp")
    spec = TrainSpec(label="released", epochs=1, batch_size=32, privacy=privacy)
    checkpoint = train(small, spec, tmp_path / "dp", progress=False)
    evidence = run_audit(
        small,
        AuditConfig(label="released", sensitive=("sex",), n_bootstrap=100),
        load_predictor(tmp_path / "dp"),
    )
    assert evidence.data.n_rows_audited == len(checkpoint.split["test"]) < 300
    assert evidence.model.training.privacy.epsilon == checkpoint.record["privacy"]["epsilon"]
    assert evidence_item(evidence, "dp").differentially_private is True
    # The audit recomputes epsilon from the recorded mechanism, independently of training.
    from raikit.models.privacy import epsilon_from_history

    record = checkpoint.record["privacy"]
    expected = epsilon_from_history(record["history"], record["delta"], "rdp")
    dp = evidence.model.dp
    assert dp.epsilon_recomputed == pytest.approx(expected) and dp.epsilon_matches() is True
    assert not {"dp_record_inconsistent", "dp_record_unverifiable"} & {
        f.code for f in evidence.all_findings()
    }

    # A record whose epsilon was edited down is caught: finding, gate and risk.
    path = tmp_path / "dp" / "training.json"
    edited = json.loads(path.read_text())
    edited["privacy"]["epsilon"] = record["epsilon"] / 10
    path.write_text(json.dumps(edited))
    policy = Policy.model_validate({"privacy": {"max_epsilon": 1000}})
    evidence = run_audit(
        small,
        AuditConfig(label="released", sensitive=("sex",), n_bootstrap=100),
        load_predictor(tmp_path / "dp"),
        policy=policy,
    )
    [finding] = [f for f in evidence.all_findings() if f.code == "dp_record_inconsistent"]
    assert finding.severity == "critical"
    [gate] = [c for c in check(evidence, policy).checks if c.gate == "max_epsilon"]
    assert gate.status == "fail"
    [risk] = [r for r in evidence.verdicts.risks if r.concern == "privacy"]
    assert risk.likelihood == 5 and "cannot be trusted" in risk.basis


def test_an_edited_one_run_audit_is_caught(tmp_path):
    """The audit recomputes the one-run bound and verdict from the recorded guesses."""
    table = load_table("arrests")
    small = LoadedTable(table.frame.iloc[:300], table.source, "sha-of-300-rows", table.spec)
    spec = TrainSpec(label="released", epochs=1, batch_size=32, audit_canaries=40)
    train(small, spec, tmp_path / "m", progress=False)
    config = AuditConfig(label="released", n_bootstrap=100)
    codes = {f.code for f in run_audit(small, config, load_predictor(tmp_path / "m")).findings}
    assert "one_run_audit_without_dp" in codes and "one_run_record_inconsistent" not in codes
    path = tmp_path / "m" / "training.json"
    edited = json.loads(path.read_text())
    audit = edited["privacy"]["one_run_audit"]
    audit["correct_guesses"] = audit["guesses"]  # every guess right, bound left as it was
    path.write_text(json.dumps(edited))
    evidence = run_audit(small, config, load_predictor(tmp_path / "m"))
    [finding] = [f for f in evidence.findings if f.code == "one_run_record_inconsistent"]
    assert finding.severity == "critical" and "was edited" in finding.message


def test_checks_that_re_score_the_model_refuse_a_predictions_file():
    from raikit.audit.robustness import RobustnessConfig

    frame = pd.DataFrame({"y_true": [0, 1] * 20, "y_pred": [0, 1] * 20, "sex": ["a", "b"] * 20})
    table = LoadedTable(frame, "predictions.csv", "sha")
    config = AuditConfig(label="y_true", sensitive=("sex",), n_bootstrap=100)
    with pytest.raises(ConfigError, match="^robustness .* need a model, not a predictions"):
        run_audit(table, config, checks={"robustness": RobustnessConfig()})


@pytest.mark.parametrize(
    "y_pred, reason",
    [
        ([1] * 300, "it predicts '1' for every row"),
        # 10 of the 134 actual negatives found: balanced accuracy 0.54.
        (
            [0] * 10 + [1] * 290,
            "it finds 10 of the 134 rows of class '0' (7%): it (nearly) always predicts '1'",
        ),
    ],
)
def test_a_degenerate_model_is_flagged_and_never_rated_low_risk(y_pred, reason):
    y_true = [0] * 134 + [1] * 166
    frame = pd.DataFrame({"y": y_true, "y_pred": y_pred, "sex": ["a", "b", "b"] * 100})
    table = LoadedTable(frame, "predictions.csv", "sha")
    config = AuditConfig(label="y", sensitive=("sex",), n_bootstrap=100)
    evidence = run_audit(table, config, checks=["performance", "fairness"])
    assert evidence.model.degenerate == reason
    [finding] = [f for f in evidence.all_findings() if f.code == "degenerate_model"]
    assert finding.severity == "critical" and reason in finding.message
    # Fairness measured a small gap (a constant model has none), yet bias is not "low".
    dpd = evidence.result("fairness").attributes[0].disparities["demographic_parity_difference"]
    assert dpd.value < 0.1
    concerns = {c.name: c for c in evidence.verdicts.concerns}
    assert concerns["bias"].level == "unknown"
    assert concerns["bias"].headline.startswith("Not scored: demographic parity difference")
    assert "the model is degenerate" in concerns["bias"].headline
    assert concerns["service_quality"].level == "high"
    assert reason in concerns["service_quality"].headline


def test_without_a_sensitive_column_fairness_is_not_applicable_and_the_rest_runs():
    frame = pd.DataFrame({"y": [0, 1] * 60, "y_pred": [0, 1, 1, 0] * 30})
    table = LoadedTable(frame, "predictions.csv", "sha")
    evidence = run_audit(table, AuditConfig(label="y", n_bootstrap=100))
    assert evidence.result("fairness") is None
    assert evidence.result("performance").metrics["accuracy"].value == 0.5
    [finding] = [f for f in evidence.findings if f.code == "no_sensitive_column"]
    assert "not applicable" in finding.message
    bias = next(c for c in evidence.verdicts.concerns if c.name == "bias")
    assert bias.status == "not_assessed" and bias.level == "unknown"
