"""``raikit.audit.audit`` on every kind of model, figures checked against independent sums.

Accuracy and selection rates are recomputed with scikit-learn / numpy on the same rows;
Integrated Gradients of a linear module are ``w * (x - baseline)`` by hand; an FGSM step on a
linear module moves every input by ``epsilon * sign(w_other - w_target)``, and the robust
accuracy of a linear model at radius ``epsilon`` is the share of rows whose margin exceeds
``epsilon * ||w_target - w_other||_1``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from raikit.audit import audit
from raikit.audit.adapters import IN_MEMORY_STATE
from raikit.audit.evidence import load_evidence, save_evidence
from raikit.audit.explain import ExplainConfig
from raikit.audit.predictor import as_predictor, list_adapters, load_predictor
from raikit.audit.robustness import RobustnessConfig
from raikit.audit.robustness._adversarial import perturb
from raikit.audit.torch_model import torch_model
from raikit.models.data import load_table
from raikit.models.errors import ConfigError, DataError, ModelError
from raikit.reports import render

ROOT = Path(__file__).resolve().parents[2]

CATEGORICAL = ["colour", "sex", "employed", "citizen"]
SMALL_EXPLAIN = {"n_bootstrap": 100, "quality_rows": 4, "n_perturb_samples": 2}
SMALL_ROBUSTNESS = {"n_bootstrap": 100, "max_perturbation_rows": 100, "pgd_steps": 4}


@pytest.fixture(scope="module")
def arrests_split():
    frame = load_table("arrests").frame
    order = np.random.default_rng(0).permutation(len(frame))
    return frame.iloc[order[:2000]], frame.iloc[order[2000:2600]]


@pytest.fixture(scope="module")
def pipeline(arrests_split):
    train, _ = arrests_split
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL), remainder="passthrough"
        ),
        LogisticRegression(max_iter=1000),
    )
    return model.fit(train.drop(columns="released"), train["released"])


# --------------------------------------------------------------------------------------
# scikit-learn


def test_a_sklearn_pipeline_is_audited_on_raw_columns(pipeline, arrests_split, tmp_path):
    _, held_out = arrests_split
    evidence = audit(pipeline, held_out, label="released", sensitive=["colour"], n_bootstrap=100)
    predicted = pipeline.predict(held_out.drop(columns="released"))
    metrics = evidence.result("performance").metrics
    assert metrics["accuracy"].value == pytest.approx(
        accuracy_score(held_out["released"], predicted)
    )
    assert metrics["balanced_accuracy"].value == pytest.approx(
        balanced_accuracy_score(held_out["released"], predicted)
    )
    (colour,) = evidence.result("fairness").attributes
    for group in colour.groups:
        rows = (held_out["colour"] == group.group["colour"]).to_numpy()
        assert group.count == rows.sum()
        assert group.metrics["selection_rate"].value == pytest.approx(
            (predicted[rows] == "Yes").mean()
        )
    assert evidence.data.source == "<in-memory DataFrame>"
    assert evidence.data.n_rows_audited == len(held_out) and evidence.data.rows == "all rows"
    model = evidence.model
    assert (model.kind, model.path) == ("sklearn", "<in-memory sklearn Pipeline>")
    assert model.architecture.endswith("Pipeline: ColumnTransformer -> LogisticRegression")
    assert re.fullmatch("[0-9a-f]{64}", model.files_sha256[IN_MEMORY_STATE])
    assert evidence.title == "Audit of <in-memory sklearn Pipeline> on <in-memory DataFrame>"
    save_evidence(evidence, tmp_path / "evidence.json")
    assert load_evidence(tmp_path / "evidence.json") == evidence
    markdown = render(evidence, "md")
    assert "in-memory sklearn Pipeline" in markdown and IN_MEMORY_STATE in markdown


def test_the_parameter_hash_follows_the_fitted_state(pipeline, arrests_split):
    train, _ = arrests_split
    first = as_predictor(pipeline).describe().files_sha256[IN_MEMORY_STATE]
    assert as_predictor(pipeline).describe().files_sha256[IN_MEMORY_STATE] == first
    other = LogisticRegression(max_iter=1000).fit(train[["age", "checks"]], train["released"])
    again = LogisticRegression(max_iter=1000, C=0.01).fit(
        train[["age", "checks"]], train["released"]
    )
    assert as_predictor(other).describe() != as_predictor(again).describe()


def test_a_sklearn_model_without_gradients_falls_back(pipeline, arrests_split):
    _, held_out = arrests_split
    evidence = audit(
        pipeline,
        held_out.iloc[:200],
        label="released",
        sensitive=["colour"],
        checks={
            "explanations": ExplainConfig(n_rows=20, **SMALL_EXPLAIN),
            "robustness": RobustnessConfig(**SMALL_ROBUSTNESS),
        },
    )
    explanations = evidence.result("explanations")
    assert explanations.method == "feature-ablation"
    columns = list(pipeline.feature_names_in_)
    assert sorted(f.feature for f in explanations.features) == sorted(columns)
    robustness = evidence.result("robustness")
    assert robustness.adversarial is None
    assert "adversarial_not_run" in [f.code for f in robustness.findings]
    with pytest.raises(ConfigError, match="integrated-gradients needs a torch model"):
        audit(
            pipeline,
            held_out,
            label="released",
            checks={"explanations": ExplainConfig(method="integrated-gradients")},
        )


def test_a_model_fitted_on_arrays_needs_its_feature_columns(arrests_split):
    train, held_out = arrests_split
    model = LogisticRegression().fit(train[["age", "checks"]].to_numpy(), train["released"])
    with pytest.raises(ConfigError, match="fitted without column names: pass feature_columns"):
        audit(model, held_out, label="released")
    evidence = audit(
        model, held_out, label="released", feature_columns=["age", "checks"], n_bootstrap=100
    )
    expected = accuracy_score(
        held_out["released"], model.predict(held_out[["age", "checks"]].to_numpy())
    )
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(expected)
    with pytest.raises(ConfigError, match="option 'classes' does not apply to a sklearn model"):
        audit(model, held_out, label="released", feature_columns=["age"], classes=["No", "Yes"])


def test_what_cannot_be_audited_says_what_can(arrests_split):
    _, held_out = arrests_split
    with pytest.raises(ModelError, match="cannot audit a builtins.dict; raikit audits"):
        audit({"weights": 1}, held_out, label="released")
    with pytest.raises(ModelError, match="is not fitted"):
        audit(LogisticRegression(), held_out, label="released")
    with pytest.raises(ConfigError, match="give label='COLUMN'"):
        audit(LogisticRegression().fit([[0], [1]], ["a", "b"]), held_out, feature_columns=["age"])


@pytest.mark.parametrize("check", ["membership_inference", "mitigation"])
def test_checks_that_retrain_need_the_training_recipe(pipeline, arrests_split, check):
    _, held_out = arrests_split
    with pytest.raises(ConfigError) as raised:
        audit(pipeline, held_out, label="released", sensitive=["colour"], checks=[check])
    assert str(raised.value) == (
        f"{check} needs the training recipe: a raikit checkpoint with its training record "
        "(training.json, split.json); <in-memory sklearn Pipeline> has none"
    )


def test_a_policy_and_an_impact_assessment_are_attached(pipeline, arrests_split):
    from raikit.audit.impact import load_impact
    from raikit.audit.policy import load_policy

    _, held_out = arrests_split
    policy, impact = ROOT / "examples" / "policy.yaml", ROOT / "examples" / "impact.yaml"
    settings = {"label": "released", "sensitive": ["colour"], "n_bootstrap": 100}
    from_files = audit(pipeline, held_out, policy=str(policy), impact=impact, **settings)
    assert from_files.gate is not None and from_files.impact is not None
    given = audit(
        pipeline, held_out, policy=load_policy(policy), impact=load_impact(impact), **settings
    )
    assert (given.gate, given.impact) == (from_files.gate, from_files.impact)
    assert audit(pipeline, held_out, **settings).gate is None


# --------------------------------------------------------------------------------------
# torch.nn.Module


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.default_rng(1)
    n = 160
    x = rng.normal(size=(n, 3))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=n)
    return pd.DataFrame(
        {
            "x1": x[:, 0],
            "x2": x[:, 1],
            "x3": x[:, 2],
            "group": rng.choice(["a", "b"], size=n),
            "label": np.where(logit > 0, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def linear_module():
    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[-0.7, 0.4, 0.1], [0.8, -0.6, 0.3]]))
        module.bias.copy_(torch.tensor([0.05, -0.05]))
    return module


FEATURES = ["x1", "x2", "x3"]


def _logits(module, frame):
    w = module.weight.detach().double().numpy()
    b = module.bias.detach().double().numpy()
    return frame[FEATURES].to_numpy() @ w.T + b, w


def test_integrated_gradients_of_a_linear_module_are_weight_times_distance(
    linear_module, linear_data
):
    evidence = audit(
        linear_module,
        linear_data,
        label="label",
        sensitive=["group"],
        feature_columns=FEATURES,
        classes=["no", "yes"],
        n_bootstrap=100,
        checks={"performance": None, "explanations": ExplainConfig(n_rows=160, **SMALL_EXPLAIN)},
    )
    logits, w = _logits(linear_module, linear_data)
    predicted = logits.argmax(axis=1)
    expected_accuracy = (np.array(["no", "yes"])[predicted] == linear_data["label"]).mean()
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(
        expected_accuracy
    )
    explanations = evidence.result("explanations")
    assert explanations.method == "integrated-gradients"
    x = linear_data[FEATURES].to_numpy()
    baseline = x.mean(axis=0)  # the mean of the audited rows, the reference without training data
    attributions = w[predicted] * (x - baseline)
    importance = {f.feature: f.importance.value for f in explanations.features}
    for j, column in enumerate(FEATURES):
        assert importance[column] == pytest.approx(np.abs(attributions[:, j]).mean(), rel=1e-4)
    assert explanations.local
    for local in explanations.local:  # rows are named by their index label (0..159 here)
        scores = {f.feature: f.score for f in local.features}
        for j, column in enumerate(FEATURES):
            assert scores[column] == pytest.approx(attributions[local.row, j], rel=1e-4, abs=1e-6)
    model = evidence.model
    assert (model.kind, model.path) == ("torch-module", "<in-memory torch Linear>")
    state = hashlib.sha256()
    for name, tensor in linear_module.state_dict().items():
        state.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        state.update(tensor.numpy().tobytes())
    assert model.files_sha256 == {IN_MEMORY_STATE: state.hexdigest()}


def test_an_fgsm_step_moves_each_input_by_epsilon_times_the_sign_of_the_weights(
    linear_module, linear_data
):
    predictor = as_predictor(linear_module, feature_columns=FEATURES, classes=["no", "yes"])
    view = torch_model(predictor)
    assert view.input_kind == "tabular" and view.feature_columns == FEATURES
    assert view.encoded_column_groups() == {"x1": [0], "x2": [1], "x3": [2]}
    (x0,) = view.encode(linear_data)
    target = torch.from_numpy((linear_data["label"] == "yes").to_numpy().astype(np.int64))
    adversarial = perturb(view.module, x0, target, attack="fgsm", epsilon=0.1)
    w = linear_module.weight.detach()
    # The loss of class y rises fastest along w_other - w_y: every input moves by 0.1 that way.
    towards = torch.where(target[:, None] == 1, w[0] - w[1], w[1] - w[0])
    torch.testing.assert_close(adversarial - x0, 0.1 * torch.sign(towards))


def test_adversarial_robustness_of_a_torch_module_is_measured(linear_module, linear_data):
    epsilons = (0.0, 0.1, 0.3, 1.0)
    evidence = audit(
        linear_module,
        linear_data,
        label="label",
        sensitive=["group"],
        feature_columns=FEATURES,
        classes=["no", "yes"],
        checks={
            "robustness": RobustnessConfig(
                epsilons=epsilons, attacks=("fgsm", "pgd_linf"), **SMALL_ROBUSTNESS
            )
        },
    )
    adversarial = evidence.result("robustness").adversarial
    assert adversarial is not None  # measured, not refused
    logits, w = _logits(linear_module, linear_data)
    y = (linear_data["label"] == "yes").to_numpy().astype(int)
    margin = logits[np.arange(len(y)), y] - logits[np.arange(len(y)), 1 - y]
    l1 = np.abs(w[1] - w[0]).sum()
    assert adversarial.clean_accuracy == pytest.approx((margin > 0).mean())
    for point in adversarial.points:
        # On a linear model the best L-inf attack is the corner FGSM reaches; PGD finds it too.
        expected = (margin > point.epsilon * l1).mean()
        assert point.robust_accuracy.value == pytest.approx(expected), point
    assert {p.attack for p in adversarial.points} == {"fgsm", "pgd_linf"}


def test_a_torch_module_is_refused_without_what_it_reads(linear_module, linear_data):
    with pytest.raises(ConfigError, match="needs feature_columns=\\[...\\]"):
        audit(linear_module, linear_data, label="label", classes=["no", "yes"])
    with pytest.raises(ConfigError, match="needs classes=\\[...\\]"):
        audit(linear_module, linear_data, label="label", feature_columns=FEATURES)
    with pytest.raises(ModelError, match="returns logits of shape \\(160, 2\\); expected"):
        audit(
            linear_module,
            linear_data,
            label="label",
            feature_columns=FEATURES,
            classes=["no", "yes", "maybe"],
        )
    holes = linear_data.assign(x2=linear_data["x2"].where(linear_data.index % 7 > 0))
    with pytest.raises(DataError, match="column 'x2' has 23 missing value\\(s\\): the module"):
        audit(linear_module, holes, label="label", feature_columns=FEATURES, classes=["no", "yes"])
    with pytest.raises(ConfigError, match="membership_inference needs the training recipe"):
        audit(
            linear_module,
            linear_data,
            label="label",
            feature_columns=FEATURES,
            classes=["no", "yes"],
            checks=["membership_inference"],
        )


def test_a_frame_repeating_a_column_name_is_refused(linear_module, linear_data):
    copied = pd.concat([linear_data, linear_data[["label"]]], axis=1)
    with pytest.raises(
        DataError, match="^<in-memory DataFrame> has duplicate column name\\(s\\) 'label';"
    ):
        audit(linear_module, copied, label="label", feature_columns=FEATURES, classes=["no", "yes"])


# --------------------------------------------------------------------------------------
# Hugging Face


@pytest.fixture(scope="module")
def tiny_bert():
    """A random 1-layer BERT (16 wide) and a WordPiece tokenizer trained on the texts."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    frame = load_table("identity-text").frame.sample(n=120, random_state=0)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(frame["text"].tolist(), vocab_size=200, min_frequency=1)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    model = BertForSequenceClassification(config).eval()
    return model, tokenizer, frame


def _reference_probabilities(model, tokenizer, texts):
    encoded = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        return torch.softmax(model(**encoded).logits, dim=1).numpy()


def test_a_text_classification_pipeline_is_audited_with_gradients(tiny_bert):
    from transformers import pipeline

    model, tokenizer, frame = tiny_bert
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer)
    evidence = audit(
        classifier,
        frame,
        label="sentiment",
        sensitive=["identity"],
        text="text",
        n_bootstrap=100,
        checks={
            "performance": None,
            "explanations": ExplainConfig(n_rows=12, n_steps=8, max_steps=8, **SMALL_EXPLAIN),
        },
    )
    probabilities = _reference_probabilities(model, tokenizer, frame["text"])
    predicted = np.array(["negative", "positive"])[(probabilities[:, 1] >= 0.5).astype(int)]
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(
        (predicted == frame["sentiment"]).mean()
    )
    explanations = evidence.result("explanations")
    assert explanations.method == "layer-integrated-gradients"
    vocabulary = {w for text in frame["text"] for w in text.split()}
    assert {f.feature for f in explanations.features} <= vocabulary  # words, not word pieces
    assert evidence.model.kind == "huggingface-pipeline"
    assert evidence.model.path == "<in-memory transformers pipeline: BertForSequenceClassification>"
    with pytest.raises(ConfigError, match="needs text='COLUMN'"):
        audit(classifier, frame, label="sentiment")


def test_a_hugging_face_directory_is_loaded_from_local_files(tiny_bert, tmp_path):
    model, tokenizer, frame = tiny_bert
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    predictor = load_predictor(tmp_path, text="text")
    assert predictor.kind == "huggingface" and predictor.classes == ["negative", "positive"]
    np.testing.assert_allclose(
        predictor.predict_proba(frame),
        _reference_probabilities(model, tokenizer, frame["text"]),
        atol=1e-5,
    )
    renamed = load_predictor(tmp_path, text="text", classes=["neg", "pos"])
    assert renamed.classes == ["neg", "pos"]
    evidence = audit(
        str(tmp_path),
        frame.assign(sentiment=frame["sentiment"].str[:3]),
        label="sentiment",
        text="text",
        classes=["neg", "pos"],
        n_bootstrap=100,
        checks={
            "robustness": RobustnessConfig(
                epsilons=(0.0, 0.5), attacks=("fgsm",), max_attack_rows=20, **SMALL_ROBUSTNESS
            )
        },
    )
    assert evidence.result("robustness").adversarial is not None
    config = (tmp_path / "config.json").read_bytes()
    assert evidence.model.files_sha256["config.json"] == hashlib.sha256(config).hexdigest()
    assert evidence.model.architecture.endswith("BertForSequenceClassification")
    with pytest.raises(ConfigError, match="needs text='COLUMN'"):
        load_predictor(tmp_path)


# --------------------------------------------------------------------------------------
# raikit checkpoints and predictions tables


def test_a_raikit_checkpoint_is_audited_on_its_own_test_split(arrests_model, arrests_table):
    evidence = audit(str(arrests_model.path), "arrests", sensitive=["colour"], n_bootstrap=100)
    assert evidence.data.label == "released"  # from the training record
    test_rows = arrests_model.split["test"]
    assert evidence.data.n_rows_audited == len(test_rows)
    predictor = load_predictor(arrests_model.path)
    held_out = arrests_table.frame.iloc[test_rows]
    predicted = np.array(predictor.classes)[predictor.predict_proba(held_out).argmax(axis=1)]
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(
        (predicted == held_out["released"]).mean()
    )
    assert evidence.model.kind == "raikit-checkpoint"
    assert set(evidence.model.files_sha256) >= {"config.json", "model.safetensors"}
    with pytest.raises(ConfigError, match="option 'text' does not apply to a raikit-checkpoint"):
        audit(arrests_model.path, "arrests", text="text")
    # The same table given as a DataFrame hashes alike, so the test split is still found.
    again = audit(arrests_model.path, arrests_table.frame, checks=["performance"], n_bootstrap=100)
    assert again.data.n_rows_audited == len(test_rows)


def test_a_predictions_table_needs_no_model():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "y_true": rng.integers(0, 2, 300),
            "y_pred": rng.integers(0, 2, 300),
            "gender": rng.choice(["f", "m"], 300),
        }
    )
    evidence = audit(None, frame, sensitive="gender", n_bootstrap=100)
    assert evidence.result("performance").metrics["accuracy"].value == pytest.approx(
        (frame["y_true"] == frame["y_pred"]).mean()
    )
    for group in evidence.result("fairness").attributes[0].groups:
        rows = frame["gender"] == group.group["gender"]
        assert group.metrics["selection_rate"].value == pytest.approx(frame["y_pred"][rows].mean())
    assert evidence.model.kind == "predictions-file"
    with pytest.raises(ConfigError, match="text describes a model; model is None"):
        audit(None, frame, text="text")
    with pytest.raises(ConfigError, match="need a model, not a predictions file"):
        audit(None, frame, checks=["robustness"])


def test_the_adapter_table_lists_every_kind_in_detection_order():
    adapters = list_adapters()
    assert [(a.name, a.source) for a in adapters] == [
        ("raikit-checkpoint", "path"),
        ("raikit-mitigated", "path"),
        ("huggingface", "path"),
        ("sklearn", "object"),
        ("torch-module", "object"),
        ("huggingface-pipeline", "object"),
    ]
