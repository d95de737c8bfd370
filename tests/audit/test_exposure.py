"""Secret exposure: ranks by hand, a closed-form tail, memorisation with and without DP."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from raikit import reports
from raikit.audit.cli import app
from raikit.audit.policy import Limits, Policy, check, limits_from
from raikit.audit.predictor import load_predictor
from raikit.audit.privacy.exposure import (
    Canary,
    CanarySet,
    assess_exposure,
    exposure_from_rank,
    extrapolated_exposure,
    load_canaries,
    plant_canaries,
)
from raikit.models.data import load_table
from raikit.models.errors import ConfigError
from raikit.models.privacy import PrivacySpec
from raikit.models.train import TrainSpec, train

FORMAT = "my pin is # # #"  # 1,000 fills: every one is scored, the rank is exact
SECRETS = ("my pin is 4 0 7", "my pin is 9 1 3", "my pin is 2 8 8", "my pin is 6 5 1")
INSERTIONS = 4
#: The mean of -log2 U for U uniform on (0, 1]: the exposure of a secret the model ranks at
#: random among its candidates.
UNMEMORISED_MEAN = 1 / math.log(2)


def test_exposure_of_a_rank():
    assert exposure_from_rank(1, 1024) == 10.0  # ranked first of 2^10
    assert exposure_from_rank(1024, 1024) == 0.0  # ranked last
    assert exposure_from_rank(4, 1024) == 8.0


def test_extrapolation_reads_the_tail_of_the_fitted_distribution():
    # Candidates from N(0, 1), a skew-normal of shape 0; a secret at 5 standard deviations
    # lies above a share sf(5) = 2.9e-7 of all fills: -log2 sf(5) = 21.7 bits.
    candidates = np.random.default_rng(0).normal(size=5000)
    expected = -norm.logsf(5.0) / math.log(2)
    assert extrapolated_exposure(5.0, candidates, 10**9) == pytest.approx(expected, abs=1.5)
    # Never more than the whole space holds.
    assert extrapolated_exposure(5.0, candidates, 10**6) == pytest.approx(math.log2(10**6))


class DigitsModel:
    """A stand-in classifier: p('pos') = expit(10 (0.d1d2... - 1/2)), the digits as a fraction."""

    classes = ("neg", "pos")

    def predict_proba(self, frame):
        from scipy.special import expit

        digits = frame["text"].str.replace(r"\D", "", regex=True)
        fraction = digits.astype(float).to_numpy() / 10.0 ** digits.str.len().to_numpy()
        p = expit(10 * (fraction - 0.5))
        return np.column_stack([1 - p, p])


def test_exact_rank_by_hand():
    # "# #" has 100 fills; the secret 42 is beaten or tied by 43..99 (57 fills): rank 58.
    canaries = CanarySet(
        format="n # #",
        text_column="text",
        label_column="label",
        canaries=[Canary(text="n 4 2", label="pos", insertions=1)],
    )
    result = assess_exposure(DigitsModel(), canaries)
    (secret,) = result.secrets
    assert result.method == "exact" and secret.rank_sampled == 58
    assert secret.exposure == pytest.approx(math.log2(100) - math.log2(58))


def test_extrapolation_never_reports_less_than_the_sampled_rank():
    # Six digits: 10^6 fills, 5,000 sampled; 999999 beats every one of them.
    canaries = CanarySet(
        format="n # # # # # #",
        text_column="text",
        label_column="label",
        canaries=[Canary(text="n 9 9 9 9 9 9", label="pos", insertions=1)],
    )
    result = assess_exposure(DigitsModel(), canaries)
    (secret,) = result.secrets
    assert result.method == "skew-normal extrapolation" and secret.rank_sampled == 1
    assert secret.exposure_sampled == pytest.approx(math.log2(5001))
    assert secret.exposure_sampled <= secret.exposure <= math.log2(10**6)
    assert "exposure_extrapolated" in {f.code for f in result.findings}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, one_torch_thread):
    """PIN sentences, all labelled 'neg' but the secrets' copies ('pos'), as a CSV file."""
    rng = np.random.default_rng(0)
    background = [FORMAT.replace("#", "{}").format(*rng.integers(0, 10, 3)) for _ in range(100)]
    background = [text for text in background if text not in SECRETS]
    texts = background + [s for s in SECRETS for _ in range(INSERTIONS)]
    labels = ["neg"] * len(background) + ["pos"] * (len(SECRETS) * INSERTIONS)
    order = rng.permutation(len(texts))
    frame = pd.DataFrame({"text": np.array(texts)[order], "label": np.array(labels)[order]})
    folder = tmp_path_factory.mktemp("canaries")
    frame.to_csv(folder / "corpus.csv", index=False)
    canaries = CanarySet(
        format=FORMAT,
        text_column="text",
        label_column="label",
        canaries=[Canary(text=s, label="pos", insertions=INSERTIONS) for s in SECRETS],
    )
    (folder / "canaries.json").write_text(canaries.model_dump_json(), encoding="utf-8")
    return folder, canaries


def _train(folder, privacy):
    spec = TrainSpec(
        label="label",
        text="text",
        arch="rnn",
        epochs=12,
        patience=12,
        batch_size=32,
        learning_rate=0.05,
        max_length=8,
        privacy=privacy,
        tensorboard=False,
    )
    out = folder / ("dp" if privacy else "plain")
    train(load_table(str(folder / "corpus.csv")), spec, out, progress=False)
    return out


@pytest.fixture(scope="module")
def plain_model(corpus):
    return _train(corpus[0], None)


def test_a_memorised_secret_is_exposed_and_dp_hides_it(corpus, plain_model):
    folder, canaries = corpus
    plain = assess_exposure(load_predictor(plain_model), canaries)
    assert plain.method == "exact" and plain.space_bits == pytest.approx(math.log2(1000))
    assert all(s.n_candidates == 999 for s in plain.secrets)
    # Exposure is log2(1000) - log2(rank): the rank recomputed from the reported exposure.
    for secret in plain.secrets:
        assert 1000 / 2**secret.exposure == pytest.approx(secret.rank_sampled)
    plain_mean = np.mean([s.exposure for s in plain.secrets])
    # Noise 16 makes epsilon small (0.26 here): the secrets rank nearly as if at random.
    dp_model = _train(folder, PrivacySpec(noise_multiplier=16.0, max_grad_norm=1.0))
    private = assess_exposure(load_predictor(dp_model), canaries)
    private_mean = np.mean([s.exposure for s in private.secrets])
    assert plain_mean > 3 * UNMEMORISED_MEAN  # 7.1 bits when measured
    assert private_mean < 2 * UNMEMORISED_MEAN  # 1.9 bits when measured
    assert plain.max_exposure == max(s.exposure for s in plain.secrets)
    # 1,000 fills hold 9.97 bits, under the default limit of 10: no verdict either way.
    assert "exposure_limit_unreachable" in {f.code for f in private.findings}


def test_the_limit_decides_the_finding_and_the_gate(corpus, plain_model, tmp_path):
    folder, _ = corpus
    out = tmp_path / "attack"
    args = ["attack", "--model", str(plain_model), "--data", str(folder / "corpus.csv")]
    args += ["--shadows", "0", "--canaries", str(folder / "canaries.json"), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "largest exposure:" in result.output
    evidence_text = (out / "evidence.json").read_text(encoding="utf-8")
    report = (out / "report.html").read_text(encoding="utf-8")
    # The secrets themselves reach no output; the report shows their exposure.
    for secret in SECRETS:
        assert secret not in evidence_text and secret not in report and secret not in result.output
    assert "Secret exposure" in report
    assert "Largest secret exposure" in report  # beside the claimed ε in the privacy summary
    from raikit.audit.evidence import load_evidence

    evidence = load_evidence(out / "evidence.json")
    largest = evidence.result("membership_inference").exposure.max_exposure
    strict = Policy.model_validate({"privacy": {"max_exposure": largest - 0.01}})
    lenient = Policy.model_validate({"privacy": {"max_exposure": largest + 0.01}})
    assert not check(evidence, strict).passed and check(evidence, lenient).passed
    assert limits_from(strict).max_exposure == pytest.approx(largest - 0.01)
    # The finding follows the same limit.
    codes = {
        f.code
        for f in assess_exposure(
            load_predictor(plain_model),
            load_canaries(folder / "canaries.json"),
            limits=Limits(max_exposure=largest - 0.01),
        ).findings
    }
    assert "secret_exposed" in codes
    # ... and so does the privacy risk.
    from raikit.audit.registry import assessment

    rule = assessment("membership_inference").risks
    membership = evidence.result("membership_inference")
    (high,) = rule(membership, Limits(max_exposure=largest - 0.01))
    assert high.likelihood == 5 and "exposure" in high.basis
    assert all("exposure" not in r.basis for r in rule(membership, Limits(max_exposure=largest)))
    markdown = reports.render(evidence, "md")
    assert "| Canary | Label |" in markdown and not any(s in markdown for s in SECRETS)


def test_no_exposure_in_the_evidence_is_a_missing_gate(corpus, plain_model):
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.runner import AuditConfig, run_audit

    policy = Policy.model_validate({"privacy": {"max_exposure": 5}})
    folder, _ = corpus
    evidence = run_audit(
        load_table(str(folder / "corpus.csv")),
        AuditConfig(label="label"),
        load_predictor(plain_model),
        {"membership_inference": MembershipConfig(shadows=0, max_samples=20)},
    )
    gate = check(evidence, policy)
    assert not gate.passed
    assert [c.observed for c in gate.checks if c.gate == "max_exposure"] == ["not measured"]


def test_planting_writes_each_secret_with_its_label(tmp_path):
    frame = pd.DataFrame({"text": ["a good day", "a bad day"] * 10, "label": ["pos", "neg"] * 10})
    original = frame.copy()
    planted, canaries = plant_canaries(frame, "text", "label", n_canaries=3, insertions=5, seed=1)
    pd.testing.assert_frame_equal(frame, original)  # the user's frame is left as it is
    assert len(planted) == 20 + 15
    assert len({c.text for c in canaries.canaries}) == 3
    for canary in canaries.canaries:
        rows = planted[planted["text"] == canary.text]
        assert len(rows) == 5 and set(rows["label"]) == {canary.label}
    assert sorted(planted["text"]) == sorted(
        [*frame["text"], *[c.text for c in canaries.canaries for _ in range(5)]]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "no digits here"}, "at least one '#'"),
        ({"format": "# only", "n_canaries": 2}, "too few"),
    ],
)
def test_bad_canary_settings_are_refused(kwargs, message):
    frame = pd.DataFrame({"text": ["x"], "label": ["a"]})
    with pytest.raises(ConfigError, match=message):
        plant_canaries(frame, "text", "label", **kwargs)


def test_a_canary_file_that_breaks_its_format_is_refused(tmp_path):
    path = tmp_path / "canaries.json"
    bad = {
        "format": FORMAT,
        "text_column": "text",
        "label_column": "label",
        "canaries": [{"text": "my pin is 1 2", "label": "pos", "insertions": 1}],
    }
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ConfigError, match="does not fill the format"):
        load_canaries(path)


def test_plant_canaries_command_writes_corpus_and_list(tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["some words"] * 8, "label": ["a", "b"] * 4}).to_csv(source, index=False)
    before = source.read_bytes()
    out = tmp_path / "planted"
    args = ["plant-canaries", "--data", str(source), "--text", "text", "--label", "label"]
    result = CliRunner().invoke(
        app, [*args, "--count", "2", "--insertions", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    canaries = load_canaries(out / "canaries.json")
    corpus = pd.read_csv(out / "corpus.csv")
    assert len(corpus) == 8 + 6
    assert all((corpus["text"] == c.text).sum() == 3 for c in canaries.canaries)
    again = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 2  # nothing is overwritten without --force
    # ... and the corpus given is never overwritten, even with --force.
    onto = ["plant-canaries", "--data", str(out / "corpus.csv"), "--text", "text"]
    onto += ["--label", "label", "--out", str(out), "--force"]
    written = (out / "corpus.csv").read_bytes()
    result = CliRunner().invoke(app, onto)
    assert result.exit_code == 2 and "would write over" in result.output
    assert (out / "corpus.csv").read_bytes() == written
