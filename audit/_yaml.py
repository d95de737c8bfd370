"""YAML configuration files validated by pydantic, with errors that name the field and line.

impact.yaml and policy.yaml are read the same way: PyYAML's safe loader gives the data,
its node tree gives the line of every value, and the first validation error is reported as
``impact.yaml line 12: field 'deployment.domain': ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from raikit.models.errors import ConfigError, close_matches_hint

Model = TypeVar("Model", bound=BaseModel)


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``loc`` (or of its deepest existing parent)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if getattr(kv[0], "value", None) == part), None)
            if match is None:
                break
            # The key's line: for a missing sub-field that is the line naming its parent.
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(error: dict[str, Any], errors: list[dict[str, Any]]) -> str:
    message = error["msg"]
    if error["type"] == "missing":
        return "is required but missing"
    if error["type"] == "extra_forbidden":
        # A misspelt field is also reported missing under its right name: suggest it.
        parent = error["loc"][:-1]
        missing = [
            e["loc"][-1] for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent
        ]
        hint = close_matches_hint(str(error["loc"][-1]), [str(m) for m in missing])
        return f"is not a known field{hint or ' (check its spelling and indentation)'}"
    value = error.get("input")
    if isinstance(value, (str, int, float, bool)):
        return f": {message}; got {value!r}"
    return f": {message}"


def load_yaml_model(
    path: Path, model: type[Model], what: str, error: type[ConfigError] = ConfigError
) -> Model:
    """Read ``path`` and validate it as ``model``.

    Parameters
    ----------
    path : Path
        The YAML file.
    model : type of pydantic model
        The schema.
    what : str
        How the file is called in messages, e.g. ``"impact assessment"``.

    Returns
    -------
    Model
        The validated document.

    Raises
    ------
    ConfigError
        (or ``error``) When the file is missing, is not YAML, or does not match the schema.
        The message names
        the file, the line and the dotted field, e.g.
        ``impact.yaml line 7: field 'deployment.domain': Input should be ...; got 'heathcare'``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} file '{path}' not found") from None
    except UnicodeDecodeError:
        raise error(f"{what} file '{path}' is not UTF-8 text") from None
    except IsADirectoryError:
        raise error(f"{what} file '{path}' is a directory; give the YAML file") from None
    except OSError as exc:
        raise error(f"cannot read {what} file '{path}': {exc.strerror}") from None
    return parse_yaml_model(text, model, str(path), error)


def parse_yaml_model(
    text: str, model: type[Model], name: str, error: type[ConfigError] = ConfigError
) -> Model:
    """Validate YAML ``text`` as ``model``; ``name`` is the file name used in messages."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{name}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise error(f"{name}: not valid YAML: nested too deeply") from None
    except ValueError as exc:  # a scalar YAML types but cannot build, such as 2024-13-45
        raise error(f"{name}: not valid YAML: a value such as a date is invalid ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{name}: expected a mapping of fields at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown key explains a "missing" one better than the other way round.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(node, loc)
        where = f" line {line}" if line is not None else ""
        raise error(f"{name}{where}: field '{field}' {_describe(first, errors)}") from None
