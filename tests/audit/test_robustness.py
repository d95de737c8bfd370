"""The robustness audit against planted signals and closed forms.

Tiny models only: hand-built predictors and torch modules where the answer is known exactly,
and models trained for a few epochs on a few hundred synthetic rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from raikit.audit.predictor import load_predictor
from raikit.audit.robustness import RobustnessConfig, assess_robustness
from raikit.audit.robustness._adversarial import attack_sweep, robust_outcomes
from raikit.audit.robustness._lexicon import load_lexicon, parse_lexicon, swapped_texts
from raikit.audit.robustness._perturbation import PERTURBATIONS, PerturbContext
from raikit.audit.torch_model import TorchModel, torch_model
from raikit.models.data import LoadedTable, load_table
from raikit.models.errors import ConfigError
from raikit.models.train import TrainSpec, train

FAST = {"n_bootstrap": 200, "max_attack_rows": 200, "max_perturbation_rows": 300}


def _synthetic(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """x1, x2 independent of the group s; p a noisy copy of s (a proxy)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(["a", "b"], size=n)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "p": (s == "b") * 3.0 + rng.normal(0, 0.3, size=n),
            "s": s,
        }
    ).assign(by_x1=lambda f: np.where(f["x1"] > 0, "yes", "no"), by_s=lambda f: f["s"])


def _train(frame: pd.DataFrame, label: str, tmp_path: Path, **spec) -> object:
    table = LoadedTable(frame, "synthetic", "0" * 64, None)
    other = "by_s" if label == "by_x1" else "by_x1"
    train(
        table,
        TrainSpec(
            label=label,
            exclude=(other,),
            epochs=25,
            learning_rate=1e-2,
            patience=25,
            seed=0,
            **spec,
        ),
        tmp_path / label,
        progress=False,
    )
    return load_predictor(tmp_path / label)


# --- counterfactual fairness, tabular ---------------------------------------------------


def test_blind_model_without_proxy_never_flips(tmp_path):
    frame = _synthetic().drop(columns=["p"])
    predictor = _train(frame, "by_x1", tmp_path, sensitive=("s",), exclude_sensitive=True)
    result = assess_robustness(
        predictor, frame, RobustnessConfig(sensitive=("s",), label="by_x1", attacks=(), **FAST)
    )
    (attribute_only,) = result.counterfactual  # no proxy found: no second variant
    assert attribute_only.attribute_is_input is False
    assert attribute_only.overall.flip_rate.value == 0.0
    assert all(g.flip_rate.value == 0.0 for g in attribute_only.groups)
    assert attribute_only.overall.mean_score_change.value == pytest.approx(0.0, abs=1e-12)
    assert {f.code for f in result.findings} >= {"attribute_not_an_input", "no_proxies"}


def test_model_whose_label_is_the_attribute_flips_nearly_always(tmp_path):
    frame = _synthetic().drop(columns=["p"])
    predictor = _train(frame, "by_s", tmp_path, sensitive=("s",))
    result = assess_robustness(
        predictor, frame, RobustnessConfig(sensitive=("s",), label="by_s", attacks=(), **FAST)
    )
    attribute_only = result.counterfactual[0]
    assert attribute_only.attribute_is_input is True
    assert attribute_only.overall.flip_rate.value > 0.95
    low, high = attribute_only.overall.flip_rate.lower, attribute_only.overall.flip_rate.upper
    assert low <= attribute_only.overall.flip_rate.value <= high
    assert result.max_counterfactual_flip_rate() > 0.95
    assert any(f.code == "counterfactual_flips" for f in result.findings)


def test_proxies_changed_alongside_the_attribute_are_named_and_flip_a_blind_model(tmp_path):
    frame = _synthetic()
    predictor = _train(frame, "by_s", tmp_path, sensitive=("s",), exclude_sensitive=True)
    result = assess_robustness(
        predictor, frame, RobustnessConfig(sensitive=("s",), label="by_s", attacks=(), **FAST)
    )
    alone, with_proxies = result.counterfactual
    assert alone.overall.flip_rate.value == 0.0  # the model never reads s
    assert with_proxies.variant == "attribute_and_proxies"
    assert [p.feature for p in with_proxies.proxies] == ["p"]
    assert "median of the target group" in with_proxies.proxies[0].how
    assert with_proxies.overall.flip_rate.value > 0.9
    assert result.settings.proxies == ["p"]


# --- adversarial: closed form of a linear classifier -------------------------------------


def _linear_model(d: int = 6, seed: int = 0) -> tuple[TorchModel, torch.Tensor, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    module = torch.nn.Linear(d, 2).double()
    with torch.no_grad():
        module.weight.copy_(torch.randn(2, d, generator=generator, dtype=torch.float64))
        module.bias.copy_(torch.randn(2, generator=generator, dtype=torch.float64) * 0.1)
    x = torch.randn(300, d, generator=generator, dtype=torch.float64)
    w = (module.weight[1] - module.weight[0]).detach()
    y = ((x @ w + (module.bias[1] - module.bias[0]).detach()) > 0).numpy().astype(np.int64)
    y[:30] = 1 - y[:30]  # some rows misclassified before any attack
    model = TorchModel(module.eval(), "tabular", {"features": []}, ["0", "1"], Path("."))
    return model, x, y


def test_pgd_matches_the_closed_form_worst_case_of_a_linear_classifier():
    model, x, y = _linear_model()
    weight, bias = model.module.weight.detach(), model.module.bias.detach()
    w, b = weight[1] - weight[0], bias[1] - bias[0]
    signed_margin = ((2 * y - 1) * (x @ w + b).numpy()).astype(np.float64)
    epsilons = [0.0, 0.02, 0.05, 0.1, 0.2, 0.4]
    attacks = ("fgsm", "pgd_linf", "pgd_l2")
    outcomes = attack_sweep(model, (x,), y, attacks=attacks, epsilons=epsilons, steps=10)
    robust = robust_outcomes(outcomes, attacks)
    d = x.shape[1]
    for index, epsilon in enumerate(epsilons):
        # L-infinity: the margin drops by epsilon * ||w||_1; L2 (radius epsilon*sqrt(d)):
        # by epsilon * sqrt(d) * ||w||_2.
        expected_linf = (signed_margin > epsilon * float(w.abs().sum())).mean()
        expected_l2 = (signed_margin > epsilon * np.sqrt(d) * float(w.norm())).mean()
        assert robust["pgd_linf"][index].mean() == pytest.approx(expected_linf)
        assert robust["fgsm"][index].mean() == pytest.approx(expected_linf)
        assert robust["pgd_l2"][index].mean() == pytest.approx(expected_l2)
    clean_accuracy = (signed_margin > 0).mean()
    assert outcomes["clean"].mean() == pytest.approx(clean_accuracy)
    for attack in attacks:
        curve = robust[attack].mean(axis=1)
        assert curve[0] == pytest.approx(clean_accuracy)  # epsilon 0 is clean accuracy
        assert np.all(np.diff(curve) <= 0)  # non-increasing in epsilon
    assert np.all(robust["pgd_linf"].mean(axis=1) <= robust["fgsm"].mean(axis=1))


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_nonlinear_model():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    model = TorchModel(module.eval(), "tabular", {"features": []}, ["0", "1"], Path("."))
    x = torch.randn(200, 4)
    y = (x[:, 0] * x[:, 1] > 0).numpy().astype(np.int64)
    epsilons = [0.0, 0.1, 0.3, 0.6]
    outcomes = attack_sweep(model, (x,), y, attacks=("fgsm", "pgd_linf"), epsilons=epsilons)
    robust = robust_outcomes(outcomes, ("fgsm", "pgd_linf"))
    raw_pgd, raw_fgsm = outcomes["pgd_linf"].mean(axis=1), outcomes["fgsm"].mean(axis=1)
    # The plain PGD iterate is already no weaker than FGSM here; the combination never is.
    assert np.all(raw_pgd <= raw_fgsm + 0.02)
    assert np.all(robust["pgd_linf"].mean(axis=1) <= robust["fgsm"].mean(axis=1))
    assert np.all(np.diff(robust["pgd_linf"].mean(axis=1)) <= 0)


def test_images_stay_in_the_valid_range_under_attack():
    from raikit.audit.robustness._adversarial import perturb

    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    x = torch.rand(20, 1, 4, 4)
    y = torch.zeros(20, dtype=torch.int64)
    adversarial = perturb(module, x, y, attack="pgd_linf", epsilon=0.3, clip=(0.0, 1.0))
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert (adversarial - x).abs().max() <= 0.3 + 1e-6


# --- text ---------------------------------------------------------------------------------


class PlantedWord:
    """Positive exactly when the text mentions 'muslim' (case-insensitive)."""

    classes = ["negative", "positive"]
    kind = "planted-word"
    path = Path(".")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        hit = frame["text"].str.lower().str.contains(r"\bmuslim\b", regex=True).to_numpy()
        p = np.where(hit, 0.9, 0.1)
        return np.column_stack([1 - p, p])


TEXTS = pd.DataFrame(
    {
        "text": [
            "The muslim neighbour was kind",
            "my christian colleague did good work",
            "She said the woman was helpful",
            "nothing about anyone here",
        ]
        * 10,
        "label": ["positive", "negative", "negative", "negative"] * 10,
    }
)


def test_swapping_the_planted_term_flips_and_an_unrelated_term_does_not():
    result = assess_robustness(
        PlantedWord(), TEXTS, RobustnessConfig(text="text", label="label", **FAST)
    )
    on_data = next(t for t in result.text_counterfactual if t.source == "data")
    swaps = {(s.term, s.replacement): s for s in on_data.swaps}
    assert all(s.flip_rate.value == 1.0 for (term, _), s in swaps.items() if term == "muslim")
    assert swaps[("christian", "muslim")].flip_rate.value == 1.0
    assert swaps[("christian", "jewish")].flip_rate.value == 0.0
    assert swaps[("woman", "man")].flip_rate.value == 0.0
    assert swaps[("she", "he")].flip_rate.value == 0.0
    assert swaps[("muslim", "christian")].mean_score_change == pytest.approx(-0.8)
    assert on_data.n_texts_with_terms == 30
    templates = next(t for t in result.text_counterfactual if t.source == "templates")
    assert templates.n_swaps > 0
    assert result.settings.lexicon_version == load_lexicon().version
    assert result.adversarial is None
    assert any(f.code == "adversarial_not_run" for f in result.findings)
    # Bias AUCs are reported per identity term mentioned in the texts.
    muslim = next(b for b in result.bias_aucs if b.subgroup == "muslim")
    assert muslim.n == 10 and muslim.n_positive == 10


def test_case_and_whitespace_do_not_move_a_case_insensitive_model():
    result = assess_robustness(
        PlantedWord(),
        TEXTS,
        RobustnessConfig(text="text", label="label", perturbations=("case", "whitespace"), **FAST),
    )
    assert {p.perturbation for p in result.perturbations} == {"case", "whitespace"}
    assert all(p.flip_rate.value == 0.0 for p in result.perturbations)
    assert all(p.accuracy_drop == 0.0 for p in result.perturbations)


def test_shipped_lexicon_covers_the_documented_categories_and_cites_its_sources():
    lexicon = load_lexicon()
    assert lexicon.version == "1.0" and len(lexicon.sources) >= 4
    assert set(lexicon.categories) >= {
        "gender",
        "given_names",
        "race",
        "religion",
        "nationality",
        "disability",
        "sexual_orientation",
        "age",
    }
    # Every identity term of the built-in identity-text dataset can be swapped.
    from raikit.models.media_datasets import IDENTITY_TERMS

    assert all(term in lexicon.swaps for term in IDENTITY_TERMS)


def test_lexicon_swaps_keep_case_and_replace_every_occurrence():
    lexicon = load_lexicon()
    swaps = {(t, r): new for _, t, r, new in swapped_texts("She saw HER? she left.", lexicon)}
    assert swaps[("she", "he")] == "He saw HER? he left."
    with pytest.raises(ConfigError, match=r"line 3: field 'categories.g.sets'"):
        parse_lexicon("version: 1\ncategories:\n  g: {sets: [[only]]}\n")


def test_embedding_attack_on_a_text_model_removes_its_hook(tmp_path):
    table = load_table("identity-text")
    frame = table.frame.sample(n=80, random_state=0).reset_index(drop=True)
    small = LoadedTable(frame, table.source, table.sha256, table.spec)
    spec = TrainSpec(label="sentiment", arch="rnn", epochs=2, batch_size=16, max_length=10)
    train(small, spec, tmp_path / "rnn", progress=False)
    predictor = load_predictor(tmp_path / "rnn")
    result = assess_robustness(
        predictor,
        frame,
        RobustnessConfig(
            sensitive=("identity",), label="sentiment", perturbations=("typos",), **FAST
        ),
    )
    adversarial = result.adversarial
    assert adversarial.input_kind == "words" and "embedding" in adversarial.space
    for attack in ("fgsm", "pgd_linf", "pgd_l2"):
        curve = [p.robust_accuracy.value for p in adversarial.points if p.attack == attack]
        assert curve[0] == pytest.approx(adversarial.clean_accuracy)
        assert all(b <= a for a, b in zip(curve, curve[1:], strict=False))
    assert len(torch_model(predictor).embedding_layer()._forward_hooks) == 0
    assert {g.attribute for p in adversarial.points for g in p.groups} == {"identity"}


# --- perturbations ------------------------------------------------------------------------


class ThresholdOnX:
    """Decides x > 0; group 'near' sits next to the threshold, group 'far' well away from it."""

    classes = ["no", "yes"]
    kind = "threshold"
    path = Path(".")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-20 * frame["x"].to_numpy(dtype=float)))
        return np.column_stack([1 - p, p])


def test_a_model_brittle_on_one_group_is_a_finding():
    rng = np.random.default_rng(0)
    n = 400
    group = np.repeat(["near", "far"], n // 2)
    x = np.where(group == "near", rng.normal(0, 0.05, n), rng.choice([-5, 5], n))
    frame = pd.DataFrame({"x": x, "g": group, "y": np.where(x > 0, "yes", "no")})
    result = assess_robustness(
        ThresholdOnX(),
        frame,
        RobustnessConfig(sensitive=("g",), label="y", perturbations=("numeric_noise",), **FAST),
    )
    strongest = result.perturbations[-1]
    rates = {g.group: g.value.value for g in strongest.group_flip_rates}
    assert rates["far"] == 0.0 and rates["near"] > 0.2
    assert any(f.code == "brittle_group" and "near" in f.message for f in result.findings)
    # Seeded: the same settings give the same figures.
    again = assess_robustness(
        ThresholdOnX(),
        frame,
        RobustnessConfig(sensitive=("g",), label="y", perturbations=("numeric_noise",), **FAST),
    )
    assert again.perturbations == result.perturbations


def test_perturbations_leave_sensitive_columns_and_the_pixel_range_alone():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"c": rng.choice(["u", "v", "w"], 500), "s": ["a"] * 500})
    context = PerturbContext(categorical=["c"])
    swapped = PERTURBATIONS["category_swap"].apply(frame, 1.0, rng, context)
    assert (swapped["c"] != frame["c"]).all() and (swapped["s"] == frame["s"]).all()
    pixels = pd.DataFrame(rng.integers(0, 17, (50, 64)), columns=[f"p{i}" for i in range(64)])
    image = PerturbContext(pixels=list(pixels.columns), image_shape=(1, 8, 8), pixel_range=(0, 16))
    for name in ("gaussian_noise", "brightness", "pixel_shift"):
        out = PERTURBATIONS[name].apply(pixels, 0.5 if name != "pixel_shift" else 1, rng, image)
        assert out.to_numpy().min() >= 0 and out.to_numpy().max() <= 16
    shifted = PERTURBATIONS["pixel_shift"].apply(pixels, 1, rng, image).to_numpy()
    assert not np.array_equal(shifted, pixels.to_numpy())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epsilons": (-0.1,)}, "epsilon must be a number >= 0; got -0.1"),
        ({"perturbations": ("typoz",)}, "unknown perturbation 'typoz'; did you mean 'typos'?"),
        ({"attacks": ("pgd",)}, "unknown attack 'pgd'"),
    ],
)
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")) as raised:
        RobustnessConfig(**settings)
    assert "\n" not in str(raised.value)


def test_a_perturbation_of_the_wrong_kind_is_refused():
    with pytest.raises(ConfigError, match="'typos' applies to text inputs"):
        assess_robustness(
            ThresholdOnX(),
            pd.DataFrame({"x": [0.1, -0.1]}),
            RobustnessConfig(perturbations=("typos",), **FAST),
        )


def test_images_are_attacked_in_pixel_space_within_the_valid_range(tmp_path):
    table = load_table("digits")
    frame = table.frame.sample(n=120, random_state=0).reset_index(drop=True)
    small = LoadedTable(frame, table.source, table.sha256, table.spec)
    train(
        small,
        TrainSpec(label="digit", arch="cnn", epochs=1, batch_size=16),
        tmp_path / "cnn",
        progress=False,
    )
    result = assess_robustness(
        load_predictor(tmp_path / "cnn"),
        frame,
        RobustnessConfig(
            label="digit", epsilons=(0.0, 0.05, 0.2), perturbations=("pixel_shift",), **FAST
        ),
    )
    adversarial = result.adversarial
    assert adversarial.input_kind == "image" and adversarial.clip == [0.0, 1.0]
    curve = [p.robust_accuracy.value for p in adversarial.points if p.attack == "pgd_linf"]
    assert curve[0] == pytest.approx(adversarial.clean_accuracy)
    assert curve[2] <= curve[1] <= curve[0]
    assert result.counterfactual == [] and result.bias_aucs == []
    assert [p.strength for p in result.perturbations] == [1.0, 2.0]
