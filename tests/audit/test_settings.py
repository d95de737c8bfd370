"""Every config validates once, with one bound per field and one message form.

The table below lists every config class and, for each shared field, a value out of its bound
with the exact one-line message a user sees. A config added to the registry must be added to
``CONFIGS``; a field re-declared with another bound fails ``test_same_field_same_bounds``.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.comparison import ComparisonConfig
from raikit.audit.explain import ExplainConfig
from raikit.audit.fairness import FairnessConfig
from raikit.audit.mitigation import MitigationConfig, SweepRun
from raikit.audit.pii import PiiCheck, ScanConfig
from raikit.audit.privacy import MembershipConfig
from raikit.audit.registry import assessments
from raikit.audit.representation import Reference, RepresentationConfig
from raikit.audit.robustness import RobustnessConfig
from raikit.audit.runner import AuditConfig, _settings
from raikit.audit.slices import SliceConfig
from raikit.models.errors import ConfigError
from raikit.models.privacy import PrivacySpec
from raikit.models.settings import Settings, field_bounds
from raikit.models.train import TrainSpec

MITIGATION = {"method": "reweighing", "constraint": "demographic_parity", "sensitive": ("g",)}

#: Every config class and the fewest arguments that make a valid one.
CONFIGS: dict[type[Settings], dict] = {
    AuditConfig: {"label": "y", "sensitive": ("g",)},
    FairnessConfig: {},
    ExplainConfig: {},
    MembershipConfig: {},
    RobustnessConfig: {},
    MitigationConfig: MITIGATION,
    SweepRun: {"config": MitigationConfig(**MITIGATION), "out_dir": Path("sweep")},
    ScanConfig: {"model": None},
    PiiCheck: {},
    TrainSpec: {"label": "y"},
    PrivacySpec: {"noise_multiplier": 1.0},
    SliceConfig: {},
    ComparisonConfig: {"baseline": "runs/original"},
    RepresentationConfig: {
        "reference": Reference(population="p", source="s", columns={"g": {"a": 0.5, "b": 0.5}})
    },
}

#: The one bound of each field that several configs share.
SHARED_BOUNDS = {
    "seed": {"ge": 0},
    "n_bootstrap": {"ge": 100},
    "confidence_level": {"ge": 0.5, "lt": 1},
    "threshold": {"gt": 0, "lt": 1},
    "min_group_size": {"ge": 1},
    "epochs": {"ge": 1},
    "batch_size": {"ge": 1},
}

#: (field, value, the exact message) for values out of each field's bound.
BAD_VALUES = [
    ("seed", -1, "seed must be at least 0; got -1 instead"),
    ("seed", 1.5, "seed must be an integer; got 1.5 instead"),
    ("n_bootstrap", 99, "n_bootstrap must be at least 100; got 99 instead"),
    ("n_bootstrap", "many", "n_bootstrap must be an integer; got 'many' instead"),
    ("confidence_level", 0.4, "confidence_level must be in [0.5, 1); got 0.4 instead"),
    ("confidence_level", 1.0, "confidence_level must be in [0.5, 1); got 1.0 instead"),
    ("confidence_level", float("nan"), "confidence_level must be a finite number; got nan instead"),
    ("threshold", 0.0, "threshold must be in (0, 1); got 0.0 instead"),
    ("threshold", 1, "threshold must be in (0, 1); got 1 instead"),
    ("min_group_size", 0, "min_group_size must be at least 1; got 0 instead"),
    ("epochs", 0, "epochs must be at least 1; got 0 instead"),
    ("batch_size", -4, "batch_size must be at least 1; got -4 instead"),
    ("score_threshold", 1.5, "score_threshold must be in [0, 1]; got 1.5 instead"),
    ("device", "gpu", "device must be one of auto, cpu, cuda; got 'gpu' instead"),
    ("max_samples", 9, "max_samples must be at least 10; got 9 instead"),
    ("grid_size", 1, "grid_size must be at least 2; got 1 instead"),
    ("learning_rate", 0, "learning_rate must be greater than 0; got 0 instead"),
    ("validation_fraction", 1.5, "validation_fraction must be in (0, 1); got 1.5 instead"),
    ("delta", 1.0, "delta must be in (0, 1); got 1.0 instead"),
    ("rows", "some", "rows must be one of auto, all, test; got 'some' instead"),
]


def _cases():
    for config_type, valid in CONFIGS.items():
        for name, value, message in BAD_VALUES:
            if name in config_type.model_fields:
                yield pytest.param(
                    config_type,
                    valid,
                    name,
                    value,
                    message,
                    id=f"{config_type.__name__}.{name}={value!r}",
                )


@pytest.mark.parametrize(("config_type", "valid", "name", "value", "message"), list(_cases()))
def test_out_of_bound_value_is_one_config_error_line(config_type, valid, name, value, message):
    with pytest.raises(ConfigError) as raised:
        config_type(**{**valid, name: value})
    assert str(raised.value) == message


def test_every_bad_value_and_config_is_exercised():
    fields = {name for config_type in CONFIGS for name in config_type.model_fields}
    assert {name for name, _, _ in BAD_VALUES} <= fields
    for config_type in CONFIGS:
        # Settings of their nested configs; the comparison has no bounded field (a path).
        if config_type not in (SweepRun, PiiCheck, ComparisonConfig):
            assert any(name in config_type.model_fields for name, _, _ in BAD_VALUES), config_type


def test_every_registered_config_type_is_in_the_table():
    for item in assessments():
        assert item.config_type is None or item.config_type in CONFIGS, item.name


@pytest.mark.parametrize("config_type", list(CONFIGS))
def test_defaults_are_valid_and_frozen(config_type):
    config = config_type(**CONFIGS[config_type])
    name = next(iter(config_type.model_fields))
    with pytest.raises(Exception, match="frozen"):
        setattr(config, name, getattr(config, name))


def _bound_conflicts(config_types) -> dict[str, dict[str, dict]]:
    """Fields whose bounds differ between the configs that declare them."""
    seen: dict[str, dict[str, dict]] = {}
    for config_type in config_types:
        for name in config_type.model_fields:
            seen.setdefault(name, {})[config_type.__name__] = field_bounds(config_type, name)
    return {
        name: by_config
        for name, by_config in seen.items()
        if len({tuple(sorted(bounds.items())) for bounds in by_config.values()}) > 1
    }


def test_same_field_same_bounds():
    assert _bound_conflicts(CONFIGS) == {}


@pytest.mark.parametrize("name", list(SHARED_BOUNDS))
def test_shared_fields_carry_the_shared_bound_and_type(name):
    declaring = [c for c in CONFIGS if name in c.model_fields]
    assert len(declaring) >= 2, f"{name} is declared by {declaring} only"
    for config_type in declaring:
        assert field_bounds(config_type, name) == SHARED_BOUNDS[name], config_type.__name__
        assert _core_type(config_type.model_fields[name]) is _core_type_of(name), config_type


def _core_type(info) -> type:
    """``int`` for ``Seed``, ``PositiveInt | None`` and ``Annotated[int, ...]`` alike."""
    annotation = info.annotation
    arms = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    core = arms[0]
    return typing.get_args(core)[0] if typing.get_origin(core) is Annotated else core


def _core_type_of(name: str) -> type:
    return float if name in ("confidence_level", "threshold") else int


def test_a_redeclared_bound_is_caught():
    class Rogue(Settings):
        n_bootstrap: Annotated[int, Field(ge=1)] = 1000

    assert set(_bound_conflicts([FairnessConfig, Rogue])) == {"n_bootstrap"}


def test_unknown_and_missing_settings_name_the_field():
    with pytest.raises(ConfigError) as raised:
        FairnessConfig(n_bootstrp=200)
    assert str(raised.value) == (
        "FairnessConfig has no setting 'n_bootstrp'; did you mean 'n_bootstrap'?"
    )
    with pytest.raises(ConfigError) as raised:
        AuditConfig(sensitive=("g",))
    assert str(raised.value) == "label must be given; AuditConfig has no default for it"


def test_rules_across_fields_stay_one_line_config_errors():
    with pytest.raises(ConfigError) as raised:
        ExplainConfig(n_steps=32, max_steps=16)
    assert str(raised.value) == "max_steps must be at least n_steps (32); got 16 instead"
    with pytest.raises(ConfigError) as raised:
        TrainSpec(label="y", validation_fraction=0.5, test_fraction=0.45)
    assert str(raised.value) == (
        "validation_fraction + test_fraction must leave at least 10% for training; "
        "got 0.5 + 0.45 instead"
    )
    with pytest.raises(ConfigError, match="--shadows must be 0 \\(no LiRA\\) or at least 2"):
        MembershipConfig(shadows=1)


def test_replace_validates_again_and_model_copy_would_not():
    config = FairnessConfig()
    assert config.replace(n_bootstrap=200) == FairnessConfig(n_bootstrap=200)
    with pytest.raises(ConfigError, match="n_bootstrap must be at least 100; got 5 instead"):
        config.replace(n_bootstrap=5)
    # Why raikit never updates a config with model_copy: nothing checks the new value.
    assert config.model_copy(update={"n_bootstrap": 5}).n_bootstrap == 5
    with pytest.raises(ConfigError, match="max_grad_norm must be greater than 0"):
        TrainSpec(label="y").replace(privacy={"noise_multiplier": 1.0, "max_grad_norm": 0})


def test_a_nested_config_is_validated_too():
    with pytest.raises(ConfigError) as raised:
        SweepRun(config={**MITIGATION, "n_bootstrap": 5}, out_dir="sweep")
    assert str(raised.value) == "n_bootstrap must be at least 100; got 5 instead"


@pytest.mark.parametrize("config_type", list(CONFIGS))
def test_settings_in_the_provenance_are_plain_json(config_type):
    settings = _settings(config_type(**CONFIGS[config_type]))
    assert json.loads(json.dumps(settings)) == settings
    assert set(settings) == set(config_type.model_fields)


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("audit", "--n-bootstrap", "5"),
            "error: n_bootstrap must be at least 100; got 5 instead",
        ),
        (("audit", "--threshold", "1.5"), "error: threshold must be in (0, 1); got 1.5 instead"),
        (("audit", "--seed", "-3"), "error: seed must be at least 0; got -3 instead"),
        (
            ("train", "--data", "arrests", "--label", "released", "--epochs", "0"),
            "error: epochs must be at least 1; got 0 instead",
        ),
    ],
)
def test_cli_shows_one_line_and_exits_2(tmp_path, args, message):
    predictions = tmp_path / "p.csv"
    predictions.write_text("y_true,y_pred,g\n0,1,a\n1,1,b\n")
    command, *options = args
    where = ["--predictions", str(predictions), "--sensitive", "g"] if command == "audit" else []
    result = runner.invoke(app, [command, *where, *options, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [message]
    assert not (tmp_path / "out").exists()
