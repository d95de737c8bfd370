import numpy as np
import pandas as pd
import pytest

from raikit.audit.predictor import (
    Predictor,
    PredictorAdapter,
    as_predictor,
    list_adapters,
    load_predictor,
    register_adapter,
)
from raikit.models.errors import ConfigError, DataError, ModelError


def test_checkpoint_predictor_satisfies_the_protocol(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    assert isinstance(predictor, Predictor)
    assert predictor.kind == "raikit-checkpoint" and predictor.classes == ["No", "Yes"]
    proba = predictor.predict_proba(arrests_table.frame.head(10))
    assert proba.shape == (10, 2) and np.all((proba >= 0) & (proba <= 1))


def test_scores_in_batches_equal_one_pass(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    whole = predictor.predict_proba(arrests_table.frame)
    predictor.batch_size = 1000
    np.testing.assert_allclose(predictor.predict_proba(arrests_table.frame), whole, rtol=1e-6)
    assert predictor.predict_proba(arrests_table.frame.head(0)).shape == (0, 2)


def test_missing_feature_column_names_it(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    with pytest.raises(DataError, match="the model needs column\\(s\\) 'checks'"):
        predictor.predict_proba(arrests_table.frame.drop(columns="checks"))


def test_unknown_paths(tmp_path):
    with pytest.raises(ModelError, match="model '.*missing' not found"):
        load_predictor(tmp_path / "missing")
    (tmp_path / "weights.bin").write_bytes(b"\x80\x04junk")
    with pytest.raises(ModelError, match="is not a model raikit can load \\(formats: raikit-"):
        load_predictor(tmp_path / "weights.bin")


def test_adapter_registry_refuses_duplicates_and_takes_new_formats(tmp_path):
    names = [adapter.name for adapter in list_adapters()]
    assert names[0] == "raikit-checkpoint"
    duplicate = PredictorAdapter("raikit-checkpoint", "x", lambda p: False, lambda p: None)
    with pytest.raises(ValueError, match="already registered"):
        register_adapter(duplicate)

    class Constant:
        classes, kind = ["0", "1"], "constant"

        def __init__(self, path):
            self.path = path

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return np.tile([0.25, 0.75], (len(frame), 1))

    adapter = PredictorAdapter(
        "constant-test", "a .const file", lambda p: p.suffix == ".const", Constant
    )
    register_adapter(adapter)
    try:
        (tmp_path / "m.const").write_text("")
        predictor = load_predictor(tmp_path / "m.const")
        assert predictor.predict_proba(pd.DataFrame({"x": [1, 2]}))[:, 1].tolist() == [0.75] * 2
    finally:
        from raikit.audit import predictor as module

        module._ADAPTERS.pop("constant-test")


def test_object_adapters_take_models_in_memory_and_refuse_options_they_do_not_read(tmp_path):
    from raikit.audit import predictor as module

    class Scorer:  # a model of one's own, in memory
        def __init__(self, p):
            self.p = p

    class Wrapped:
        kind, path = "scorer", "<in-memory scorer>"

        def __init__(self, model, classes=("0", "1")):
            self.model, self.classes = model, list(classes)

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return np.tile([1 - self.model.p, self.model.p], (len(frame), 1))

    adapter = PredictorAdapter(
        "scorer-test",
        "a Scorer",
        lambda m: isinstance(m, Scorer),
        Wrapped,
        source="object",
        options=("classes",),
    )
    register_adapter(adapter)
    try:
        predictor = as_predictor(Scorer(0.25), classes=["no", "yes"], text=None)
        assert predictor.classes == ["no", "yes"] and predictor.kind == "scorer"
        assert predictor.predict_proba(pd.DataFrame({"x": [1]}))[0, 1] == 0.25
        assert as_predictor(predictor) is predictor  # a Predictor is taken as it is
        with pytest.raises(ConfigError, match="option 'text' does not apply to a scorer-test"):
            as_predictor(Scorer(0.5), text="review")
        with pytest.raises(ConfigError, match="option 'classes' does not apply to a ready"):
            as_predictor(predictor, classes=["a", "b"])
        # Paths never reach an object adapter, nor objects a path adapter.
        (tmp_path / "m.scorer").write_text("")
        with pytest.raises(ModelError, match="is not a model raikit can load"):
            load_predictor(tmp_path / "m.scorer")
        with pytest.raises(ModelError, match="cannot audit a builtins.object; raikit audits"):
            as_predictor(object())
    finally:
        module._ADAPTERS.pop("scorer-test")
