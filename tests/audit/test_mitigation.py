"""Each mitigation method on a planted disparity, checked by the independent audit code."""

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raikit.audit.fairness import FairnessConfig, assess_fairness
from raikit.audit.mitigation import MitigationConfig, mitigate, pareto_front
from raikit.audit.mitigation.mitigated import decide, one_hot, remove_correlation, row_uniforms
from raikit.audit.predictor import load_predictor
from raikit.audit.runner import describe_model
from raikit.models.data import LoadedTable
from raikit.models.errors import ConfigError, DataError, ModelError
from raikit.models.tensorboard_log import LOG_DIR
from raikit.models.train import TrainSpec, split_indices, train
from tests.audit._planted import planted_frame

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TARGET = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "equal_opportunity_difference",
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted table, a base MLP trained on it, and its held-out test rows."""
    table = LoadedTable(planted_frame(), "planted.csv", "planted-sha")
    spec = TrainSpec(label="hired", sensitive=("group",), epochs=8, seed=0)
    root = tmp_path_factory.mktemp("mitigation")
    train(table, spec, root / "base", progress=False)
    y = (table.frame["hired"] == "yes").to_numpy(np.int64)
    test = table.frame.iloc[split_indices(y, spec)["test"]]
    return table, root, test


def disparity(predictor, test, constraint):
    """The targeted disparity of ``predictor``'s decisions on ``test``, by assess_fairness."""
    y_true = (test["hired"] == "yes").to_numpy(np.int64)
    y_pred = (predictor.predict_proba(test)[:, 1] >= 0.5).astype(np.int64)
    result = assess_fairness(
        y_true,
        y_pred,
        test[["group"]].reset_index(drop=True),
        config=FairnessConfig(n_bootstrap=100),
    )
    return result.attributes[0].disparities[TARGET[constraint]].value


@pytest.mark.parametrize(
    "method, constraint",
    [
        ("threshold_optimizer", "demographic_parity"),
        ("threshold_optimizer", "equalized_odds"),
        ("exponentiated_gradient", "demographic_parity"),
        ("exponentiated_gradient", "true_positive_rate_parity"),
        ("grid_search", "demographic_parity"),
        ("fairness_penalty", "demographic_parity"),
        ("fairness_penalty", "equalized_odds"),
        ("reweighing", "demographic_parity"),
        ("correlation_remover", "demographic_parity"),
    ],
)
def test_method_reduces_the_targeted_disparity_and_reloads(planted, method, constraint):
    table, root, test = planted
    out = root / f"{method}-{constraint}"
    config = MitigationConfig(
        method=method, constraint=constraint, sensitive=("group",), epochs=4, max_iter=6
    )
    mitigate(table, root / "base", config, out)
    before = disparity(load_predictor(root / "base"), test, constraint)
    after = disparity(load_predictor(out), test, constraint)
    assert before > 0.15  # the planted disparity is there to remove
    assert after < 0.75 * before, (before, after)
    # A fresh load gives identical decisions, whatever the row order.
    shuffled = test.sample(frac=1.0, random_state=3)
    first = load_predictor(out).predict_proba(test)
    again = pd.DataFrame(load_predictor(out).predict_proba(shuffled), index=shuffled.index)
    assert np.array_equal(first, again.loc[test.index].to_numpy())
    record = json.loads((out / "training.json").read_text())
    assert record["mitigation"]["method"] == method
    assert record["mitigation"]["constraint"] == constraint
    assert record["data"]["sha256"] == "planted-sha"
    # Fitted in a staging directory, recorded where it lives, and nothing left beside it.
    assert record["mitigation"]["after"]["model_path"] == str(out)
    assert not list(root.glob(".*"))


def test_threshold_optimizer_matches_fairlearn(planted):
    """The saved thresholds give fairlearn's own P(positive) and randomised decisions."""
    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.base import BaseEstimator, ClassifierMixin

    table, root, test = planted
    base = load_predictor(root / "base")

    class Scores(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.fitted_ = True
            return self

        def predict_proba(self, X):
            return base.predict_proba(X)

    for constraint in ("demographic_parity", "equalized_odds"):
        out = root / f"threshold_optimizer-{constraint}"
        if not out.exists():
            config = MitigationConfig(
                method="threshold_optimizer", constraint=constraint, sensitive=("group",)
            )
            mitigate(table, root / "base", config, out)
        frame = table.frame
        train_rows = json.loads((out / "split.json").read_text())["train"]
        fitted = ThresholdOptimizer(
            estimator=Scores().fit(None, None),
            constraints=constraint,
            prefit=True,
            predict_method="predict_proba",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted.fit(
                frame.iloc[train_rows],
                (frame["hired"].iloc[train_rows] == "yes").astype(int),
                sensitive_features=frame["group"].iloc[train_rows],
            )
        mitigated = load_predictor(out)
        expected = fitted._pmf_predict(test, sensitive_features=test["group"])[:, 1]
        assert mitigated.positive_probability(test) == pytest.approx(expected, abs=1e-12)
        uniforms = np.random.RandomState(7).rand(len(test))
        theirs = fitted.predict(test, sensitive_features=test["group"], random_state=7)
        assert np.array_equal(decide(expected, uniforms), theirs)


def test_correlation_remover_transform_matches_fairlearn():
    from fairlearn.preprocessing import CorrelationRemover

    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c"], size=200).astype(object)
    sensitive = one_hot(groups, ["a", "b", "c"])
    features = rng.normal(size=(200, 4)) + sensitive @ rng.normal(size=(3, 4))
    for alpha in (1.0, 0.4):
        remover = CorrelationRemover(sensitive_feature_ids=[4, 5, 6], alpha=alpha)
        expected = remover.fit(np.hstack([features, sensitive])).transform(
            np.hstack([features, sensitive])
        )
        ours = remove_correlation(
            features, sensitive, remover.sensitive_mean_, remover.beta_, alpha
        )
        assert ours == pytest.approx(expected, abs=1e-10)
    with pytest.raises(DataError, match="not seen"):
        one_hot(np.array(["d"], dtype=object), ["a", "b", "c"])


def test_row_uniforms_are_uniform_and_seeded():
    frame = pd.DataFrame({"x": np.arange(20000)})
    u = row_uniforms(frame, ["x"], seed=0)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.1).mean() - 0.1) < 0.01
    assert not np.array_equal(u, row_uniforms(frame, ["x"], seed=1))
    assert np.array_equal(u[::-1], row_uniforms(frame.iloc[::-1], ["x"], seed=0))


def test_pareto_front_against_hand_marked_points():
    points = [(0.80, 0.25), (0.72, 0.02), (0.70, 0.05), (0.75, 0.10), (0.75, 0.12), (0.9, None)]
    assert pareto_front(points) == [True, True, False, True, False, False]


def test_sensitive_column_missing_at_prediction_time(planted):
    _, _, test = planted
    out = threshold_model(planted)
    with pytest.raises(
        DataError, match="sensitive column 'group' is missing .* at prediction time"
    ):
        load_predictor(out).predict_proba(test.drop(columns="group"))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "threshold_optimiser"}, ConfigError, "did you mean 'threshold_optimizer'"),
        ({"constraint": "parity"}, ConfigError, "unknown constraint 'parity'"),
        ({"method": "reweighing", "constraint": "equalized_odds"}, ConfigError, "targets"),
        ({"method": "reweighing", "strength": 2.0}, ConfigError, "must be in \\[0, 1\\]"),
        ({"method": "threshold_optimizer", "strength": 0.5}, ConfigError, "takes no --strength"),
        ({"sensitive": ()}, ConfigError, "--sensitive"),
    ],
)
def test_bad_config(kwargs, error, message):
    arguments = {"method": "reweighing", "constraint": "demographic_parity", "sensitive": ("g",)}
    with pytest.raises(error, match=message):
        MitigationConfig(**{**arguments, **kwargs})


def test_bad_data_and_models(planted, tmp_path):
    table, root, _ = planted
    unlabelled = LoadedTable(table.frame.drop(columns="hired"), "unlabelled.csv", "u")
    config = MitigationConfig(
        method="threshold_optimizer", constraint="equalized_odds", sensitive=("group",)
    )
    with pytest.raises(DataError, match="needs true labels"):
        mitigate(unlabelled, root / "base", config, tmp_path / "a")
    with pytest.raises(DataError, match="sensitive column 'grop' not found.*did you mean 'group'"):
        mitigate(
            table,
            root / "base",
            MitigationConfig(
                method="reweighing", constraint="demographic_parity", sensitive=("grop",)
            ),
            tmp_path / "b",
        )
    with pytest.raises(ModelError, match="not found"):
        mitigate(table, root / "nothing", config, tmp_path / "c")


def test_a_degenerate_model_is_never_a_trade_off_point(planted):
    from raikit.audit.mitigation._methods import prepare_context

    table, root, test = planted
    config = MitigationConfig(
        method="threshold_optimizer", constraint="demographic_parity", sensitive=("group",)
    )
    context = prepare_context(table, root / "base", config)
    n_test = len(context.rows("test"))
    baseline = context.baseline_point()
    # Saying "yes" to everyone has no disparity at all: it would dominate the front.
    constant = context.measure("always-yes", None, np.ones(n_test, dtype=np.int64))
    assert constant.degenerate == "it predicts 'yes' for every row"
    assert constant.disparities["demographic_parity_difference"].value == 0.0
    assert baseline.degenerate is None
    result = context.result([baseline, constant])
    assert [p.pareto for p in result.points] == [True, False]
    [finding] = [f for f in result.findings if f.code == "degenerate_model"]
    assert "'always-yes' is degenerate" in finding.message


def threshold_model(planted):
    """The demographic-parity threshold optimizer of ``planted`` (fitted once)."""
    table, root, _ = planted
    out = root / "threshold_optimizer-demographic_parity"
    if not out.exists():
        config = MitigationConfig(
            method="threshold_optimizer", constraint="demographic_parity", sensitive=("group",)
        )
        mitigate(table, root / "base", config, out)
    return out


def test_model_hashes_cover_the_base_model_copy(planted, tmp_path):
    _, _, test = planted
    model = shutil.copytree(threshold_model(planted), tmp_path / "moved")  # moved as one folder
    expected = {
        os.path.relpath(os.path.join(folder, name), model).replace(os.sep, "/"): hashlib.sha256(
            Path(folder, name).read_bytes()
        ).hexdigest()
        for folder, _, names in os.walk(model)
        for name in names
        if LOG_DIR not in Path(folder).relative_to(model).parts  # logs: not read to score
    }
    assert {"base/model.safetensors", "base/config.json", "base/training.json"} <= set(expected)
    predictor = load_predictor(model)
    assert describe_model(predictor).files_sha256 == expected
    original = load_predictor(threshold_model(planted)).predict_proba(test)
    assert np.array_equal(predictor.predict_proba(test), original)
    # Other weights in the base model: the base's hash changes, and only it.
    weights = model / "base" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    changed = describe_model(load_predictor(model)).files_sha256
    assert {k for k in expected if changed[k] != expected[k]} == {"base/model.safetensors"}


def _with_base(model: Path, base) -> Path:
    state = json.loads((model / "mitigation.json").read_text())
    (model / "mitigation.json").write_text(json.dumps({**state, "base": base}))
    return model


@pytest.mark.parametrize("base", ["ABSOLUTE", "../outside", ".", "base/..", "", None, 3])
def test_base_outside_the_model_folder_is_refused(planted, tmp_path, base):
    _, root, _ = planted
    shutil.copytree(root / "base", tmp_path / "outside")  # a loadable model beside it
    model = shutil.copytree(threshold_model(planted), tmp_path / "model")
    base = str(tmp_path / "outside") if base == "ABSOLUTE" else base
    with pytest.raises(ModelError) as error:
        load_predictor(_with_base(model, base))
    assert str(error.value) == (
        f"field 'base' of '{model / 'mitigation.json'}' must be a relative path to a folder or "
        f"file inside '{model}' (as `rai mitigate` writes it: 'base'); got {base!r}"
    )


def test_a_chain_of_bases_ends_or_is_refused(planted, tmp_path):
    _, _, test = planted
    model = threshold_model(planted)
    # A mitigated model whose base is itself a mitigated model (with its own base) loads.
    outer = shutil.copytree(model, tmp_path / "outer", ignore=shutil.ignore_patterns("base"))
    shutil.copytree(model, outer / "base")
    assert load_predictor(outer).predict_proba(test).shape == (len(test), 2)
    hashes = describe_model(load_predictor(outer)).files_sha256
    inner = (outer / "base" / "base" / "model.safetensors").read_bytes()
    assert hashes["base/base/model.safetensors"] == hashlib.sha256(inner).hexdigest()
    # A base pointing back up, directly or through a link, is refused instead of recursing.
    _with_base(outer / "base", "../..")
    with pytest.raises(ModelError, match="field 'base' of .* got '../..'"):
        load_predictor(outer)
    looped = shutil.copytree(model, tmp_path / "looped", ignore=shutil.ignore_patterns("base"))
    (looped / "base").symlink_to(looped, target_is_directory=True)
    with pytest.raises(ModelError, match="field 'base' of .* got 'base'"):
        load_predictor(looped)


def test_rai_audit_refuses_a_base_outside_in_one_line(planted, tmp_path):
    from typer.testing import CliRunner

    from raikit.audit.cli import app

    model = _with_base(shutil.copytree(threshold_model(planted), tmp_path / "model"), "..")
    args = ["audit", "--model", model, "--data", "planted.csv", "--label", "hired"]
    args += ["--sensitive", "group", "--out", tmp_path / "a"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: field 'base' of ") and line.endswith("got '..'")


def test_mitigated_member_sizes_are_checked_before_building(planted, tmp_path):
    """mitigation.json asking for 64 GiB layers is refused from the stored tensors' shapes."""
    table, root, _ = planted
    out = tmp_path / "removed"
    config = MitigationConfig(
        method="correlation_remover",
        constraint="demographic_parity",
        sensitive=("group",),
        epochs=1,
    )
    mitigate(table, root / "base", config, out)
    state = json.loads((out / "mitigation.json").read_text())
    state["arch_params"]["hidden"] = [2**17, 2**17]
    (out / "mitigation.json").write_text(json.dumps(state))
    with pytest.raises(ModelError, match=r"shape \(131072,\) float32 in the model it builds"):
        load_predictor(out)
