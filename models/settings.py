"""Settings shared by every config: one type and one bound for each field, one message form.

Every check's config (``AuditConfig``, ``FairnessConfig``, ``ExplainConfig``, ...) and the
training specs (``TrainSpec``, ``PrivacySpec``) are frozen :class:`Settings` models whose
fields use the annotated types below, so ``n_bootstrap`` or ``seed`` has the same bound
wherever it appears. A value outside its bound raises :class:`~raikit.models.errors.ConfigError`
with one line, ``n_bootstrap must be at least 100; got 5 instead``.

The types live in :mod:`raikit.models` because ``TrainSpec`` shares them and ``models`` never
imports ``audit``.

Example
-------
>>> class Resampling(Settings):
...     n_bootstrap: BootstrapReplicates = 1000
...     seed: Seed = 0
>>> Resampling(n_bootstrap=5)
Traceback (most recent call last):
...
raikit.models.errors.ConfigError: n_bootstrap must be at least 100; got 5 instead
"""

from __future__ import annotations

import contextlib
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Self

from raikit.models.errors import ConfigError, close_matches_hint

__all__ = [
    "BootstrapReplicates",
    "ConfidenceLevel",
    "Count",
    "DecisionThreshold",
    "Device",
    "Fraction",
    "MinGroupSize",
    "NonNegativeFloat",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "Seed",
    "Settings",
    "field_bounds",
]

#: Seed of every random generator (numpy's ``default_rng`` refuses negative seeds).
Seed = Annotated[int, Field(ge=0)]
#: Bootstrap replicates of an interval; fewer than 100 leave a 95% percentile interval unstable.
BootstrapReplicates = Annotated[int, Field(ge=100)]
#: Coverage of every interval; below 0.5 an interval says less than the point estimate.
ConfidenceLevel = Annotated[float, Field(ge=0.5, lt=1)]
#: Decision threshold on P(positive): a positive decision is ``score >= threshold``.
DecisionThreshold = Annotated[float, Field(gt=0, lt=1)]
#: Groups with fewer rows than this are flagged small.
MinGroupSize = Annotated[int, Field(ge=1)]
#: A probability or share, 0 and 1 included.
Probability = Annotated[float, Field(ge=0, le=1)]
#: A fraction strictly between 0 and 1 (a split's share of rows, DP's delta).
Fraction = Annotated[float, Field(gt=0, lt=1)]
#: Counts and sizes that must not be zero (epochs, batch sizes, rows, steps).
PositiveInt = Annotated[int, Field(ge=1)]
#: Counts where zero means "none" (samples kept, templates per set).
Count = Annotated[int, Field(ge=0)]
#: Rates and norms that must be above zero (learning rate, epsilon, clipping norm).
PositiveFloat = Annotated[float, Field(gt=0)]
#: Weights and tolerances where zero means "off".
NonNegativeFloat = Annotated[float, Field(ge=0)]
#: Where torch runs: ``auto`` picks CUDA when a GPU is present.
Device = Literal["auto", "cpu", "cuda"]

_UnionType = type(int | None)
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "tuple_type": "a sequence",
    "list_type": "a sequence",
    "path_type": "a path",
}


class Settings(BaseModel):
    """Base of every config: frozen, no unknown fields, errors as one ``ConfigError`` line.

    Fields use the annotated types of this module; rules that are not simple bounds (one
    field against another, a name looked up in a registry) are ``model_validator``s that
    raise ``ConfigError`` themselves.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="wrap")
    @classmethod
    def _one_config_error(cls, data: Any, handler: Any) -> Any:
        # Every way in (the constructor, model_validate, a nested config) passes here.
        try:
            return handler(data)
        except ValidationError as exc:
            raise ConfigError(config_error_message(cls, exc)) from None

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated again (``model_copy(update=...)`` is not).

        Example
        -------
        >>> class Resampling(Settings):
        ...     seed: Seed = 0
        >>> Resampling().replace(seed=3).seed
        3
        """
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**current, **changes})


def field_bounds(model: type[BaseModel], name: str) -> dict[str, float]:
    """The bounds (``ge``, ``gt``, ``le``, ``lt``) of field ``name``, also when optional."""
    info = model.model_fields[name]
    bounds: dict[str, float] = {}
    _collect_bounds(info.metadata, bounds)
    _collect_annotation_bounds(info.annotation, bounds)
    return bounds


def _collect_bounds(metadata: Any, bounds: dict[str, float]) -> None:
    for item in metadata:
        nested = getattr(item, "metadata", None)
        if isinstance(nested, list):  # a pydantic FieldInfo inside Annotated[...]
            _collect_bounds(nested, bounds)
        for key in ("ge", "gt", "le", "lt"):
            value = getattr(item, key, None)
            if isinstance(value, (int, float)):
                bounds[key] = value


def _collect_annotation_bounds(annotation: Any, bounds: dict[str, float]) -> None:
    """Bounds inside ``Annotated`` and union arms (``PositiveInt | None``), not inside items."""
    if typing.get_origin(annotation) is Annotated:
        _collect_bounds(annotation.__metadata__, bounds)
    elif typing.get_origin(annotation) in (typing.Union, _UnionType):
        for arm in typing.get_args(annotation):
            _collect_annotation_bounds(arm, bounds)


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return tuple(c for arm in typing.get_args(annotation) for c in _literal_choices(arm))


def describe_bounds(bounds: dict[str, float]) -> str:
    """``{"ge": 0.5, "lt": 1}`` -> ``"in [0.5, 1)"``; ``{"ge": 100}`` -> ``"at least 100"``."""
    low = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
    high = (
        (bounds["le"], "]") if "le" in bounds else (bounds["lt"], ")") if "lt" in bounds else None
    )
    if low is not None and high is not None:
        return f"in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
    if low is not None:
        return f"{'at least' if low[0] == '[' else 'greater than'} {_number(low[1])}"
    if high is not None:
        return f"{'at most' if high[1] == ']' else 'less than'} {_number(high[0])}"
    return "valid"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _shown(value: Any) -> str:
    """The value seen, as the user would write it, on one short line."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def config_error_message(model: type[BaseModel], error: ValidationError) -> str:
    """One line for the first problem of ``error``: ``<field> must be ...; got ... instead``."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    name = str(loc[0]) if loc else model.__name__
    where = name + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
    kind = first["type"]
    if kind == "extra_forbidden":
        hint = close_matches_hint(name, model.model_fields)
        return f"{model.__name__} has no setting '{name}'{hint}"
    if kind == "missing":
        return f"{name} must be given; {model.__name__} has no default for it"
    field = model.model_fields.get(name)
    if kind in _BOUND_ERRORS:
        # The whole range, not only the side that was crossed; an item's bound from pydantic.
        bounds = field_bounds(model, name) if len(loc) == 1 and field is not None else {}
        expected = describe_bounds(bounds or dict(first.get("ctx") or {}))
    elif kind == "literal_error" and field is not None and _literal_choices(field.annotation):
        expected = "one of " + ", ".join(str(c) for c in _literal_choices(field.annotation))
    elif kind in _EXPECTED:
        expected = _EXPECTED[kind]
    else:
        message = first["msg"]
        expected = message.removeprefix("Input should be ")
        if expected == message:
            return f"{where}: {message[:1].lower()}{message[1:]}; got {_shown(first['input'])}"
    return f"{where} must be {expected}; got {_shown(first['input'])} instead"
