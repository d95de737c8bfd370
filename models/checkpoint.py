"""Checkpoint directories: weights, config, training record and split, none of them pickled.

Weights are stored with safetensors and everything else as JSON, so loading a checkpoint never
unpickles anything and cannot run code. Every checkpoint has one ``config.json`` layout
(:data:`CONFIG_KEYS`, built by :func:`model_config`); format 1 configs, written before the
tabular MLP and the other architectures shared one training path, are read in that layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raikit.models.errors import ModelError, OutputError
from raikit.models.files import write_file, write_files
from raikit.models.provenance import utc_now

if TYPE_CHECKING:
    import torch

    from raikit.models.data import LoadedTable
    from raikit.models.train import TrainSpec

FORMAT = "raikit-checkpoint"
FORMAT_VERSION = 2
#: Older versions :func:`read_checkpoint` still reads (and brings to the current layout).
READABLE_VERSIONS = (1, FORMAT_VERSION)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
RECORD_FILE = "training.json"
SPLIT_FILE = "split.json"
SPLIT_PARTS = ("train", "validation", "test")
CHECKPOINT_FILES = (WEIGHTS_FILE, CONFIG_FILE, RECORD_FILE, SPLIT_FILE)
# Optional: the optimizer's moments, so that `--resume` continues training where it stopped.
OPTIMIZER_FILE = "optimizer.safetensors"
#: The keys of every ``config.json``, in order.
CONFIG_KEYS = (
    "format",
    "format_version",
    "architecture",
    "arch_params",
    "task",
    "label",
    "classes",
    "positive_label",
    "features",
    "inputs",
    "dp_fixed",
    "compression",
)


@dataclass(frozen=True)
class Checkpoint:
    """A saved model: where it is, how to rebuild it, and how it was trained."""

    path: Path
    config: dict
    record: dict
    split: dict[str, list[int]]


def model_config(
    *,
    architecture: str,
    arch_params: dict,
    task: str,
    label: str | None,
    classes: list[str],
    inputs: dict,
    dp_fixed: bool = False,
    compression: dict | None = None,
) -> dict:
    """The ``config.json`` of a checkpoint: how to rebuild the module and encode its inputs.

    Parameters
    ----------
    architecture : str
        Registered architecture name (:mod:`raikit.models.architectures`).
    arch_params : dict
        Keyword arguments that rebuild the untrained module.
    task : str
        ``classification``, ``regression`` or ``masked-language-model``.
    label : str or None
        The label column (``None`` for pre-training).
    classes : list of str
        Class names in output order (empty for a regressor); a binary model's positive class
        is ``classes[1]``.
    inputs : dict
        The input description of :func:`raikit.models.inputs.fit_inputs`; its ``features``
        are the raw columns the model reads.
    dp_fixed : bool
        Whether Opacus' ``ModuleValidator.fix`` changed the module before training.
    compression : dict, optional
        How ``rai compress`` made it (:mod:`raikit.models.compress`): its ``method``
        (``int8-dynamic`` weights load into a quantised module) and settings.
    """
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "arch_params": arch_params,
        "task": task,
        "label": label,
        "classes": classes,
        "positive_label": classes[1] if len(classes) == 2 else None,
        "features": list(inputs["features"]),
        "inputs": inputs,
        "dp_fixed": dp_fixed,
        "compression": compression,
    }
    return {key: config[key] for key in CONFIG_KEYS}


def prepare_output_dir(path: Path, *, force: bool = False) -> None:
    """Create ``path``; refuse a non-empty existing directory unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output '{path}' exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputError(f"output directory '{path}' is not empty; pass --force to overwrite")
    path.mkdir(parents=True, exist_ok=True)


def weights_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """The ``model.safetensors`` content of a state dict (what its size on disk is)."""
    from safetensors.torch import save

    state, seen = {}, set()
    for name, tensor in tensors.items():
        # Some modules (Opacus' DPLSTM) expose one parameter under two names; safetensors
        # refuses shared storage, so the second name gets its own copy.
        key = (tensor.data_ptr(), tensor.shape, tensor.dtype)
        tensor = tensor.detach().contiguous().cpu()
        state[name] = tensor.clone() if tensor.numel() and key in seen else tensor
        seen.add(key)
    return save(state, metadata={"format": FORMAT})


def save_checkpoint(
    path: Path,
    model: torch.nn.Module | dict[str, torch.Tensor],
    config: dict,
    record: dict,
    split: dict[str, list[int]],
) -> Checkpoint:
    """Write the four checkpoint files into ``path``: all of them, or none.

    ``model`` is the module, or the tensors to store (an int8 checkpoint's); ``config`` a
    :func:`model_config`; ``record`` the training record. A whole directory is replaced
    atomically by writing it inside :func:`raikit.models.files.staged_directory`.
    """
    path = Path(path)
    state = model if isinstance(model, dict) else model.state_dict()
    write_files(
        {
            path / WEIGHTS_FILE: weights_bytes(state),
            path / CONFIG_FILE: _json_text(config),
            path / RECORD_FILE: _json_text(record),
            path / SPLIT_FILE: _json_text(split),
        }
    )
    return Checkpoint(path, config, record, split)


def read_checkpoint(path: Path) -> Checkpoint:
    """Read config, training record and split of the checkpoint at ``path`` (no weights)."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"model directory '{path}' not found")
    missing = [name for name in CHECKPOINT_FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(
            f"'{path}' is not a raikit model directory: missing {', '.join(missing)} "
            "(create one with `rai train`)"
        )
    config = read_json(path / CONFIG_FILE)
    if config.get("format") != FORMAT or config.get("format_version") not in READABLE_VERSIONS:
        raise ModelError(
            f"'{path / CONFIG_FILE}' is not a raikit checkpoint config "
            f"(format {config.get('format')!r} version {config.get('format_version')!r})"
        )
    if config["format_version"] == 1:
        config = _from_format_1(config, path / CONFIG_FILE)
    record, split = read_json(path / RECORD_FILE), read_json(path / SPLIT_FILE)
    _check_split(split, config, record, path / SPLIT_FILE)
    return Checkpoint(path, config, record, split)


def _check_split(split: dict, config: dict, record: dict, file: Path) -> None:
    """Each part lists positions among the training data's rows (the audit and
    ``--resume`` index the data with them)."""
    data = record.get("data")
    n_rows = data.get("n_rows") if isinstance(data, dict) else None
    parts = ("train",) if config.get("task") == "masked-language-model" else SPLIT_PARTS
    for part in parts:
        rows = split.get(part)
        if not (
            isinstance(rows, list)
            and all(type(row) is int and row >= 0 for row in rows)
            and (not isinstance(n_rows, int) or all(row < n_rows for row in rows))
        ):
            size = f" of the {n_rows}" if isinstance(n_rows, int) else ""
            raise ModelError(
                f"'{file}' is invalid: '{part}' must list row positions{size} training rows"
            )


def _from_format_1(config: dict, file: Path) -> dict:
    """A format 1 config in the current layout (the weights and record need no change).

    Format 1 tabular MLPs trained without DP, resume or a GPU had no ``inputs``, ``task`` or
    ``dp_fixed`` and kept their preprocessor at the top; other tabular checkpoints kept a copy
    there; pre-training checkpoints had no ``label``, ``features`` or ``dp_fixed``.
    """
    inputs = config.get("inputs")
    if inputs is None:
        if "preprocessor" not in config or "features" not in config:
            raise ModelError(
                f"'{file}' has neither inputs nor a preprocessor; retrain it with `rai train`"
            )
        inputs = {
            "kind": "tabular",
            "features": config["features"],
            "preprocessor": config["preprocessor"],
        }
    try:
        return model_config(
            architecture=config["architecture"],
            arch_params=config["arch_params"],
            task=config.get("task", "classification"),
            label=config.get("label"),
            classes=config["classes"],
            inputs=inputs,
            dp_fixed=bool(config.get("dp_fixed", False)),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(
            f"'{file}' is incomplete ({exc} missing); retrain it with `rai train`"
        ) from None


def load_module(checkpoint: Checkpoint) -> torch.nn.Module:
    """Rebuild the module of ``checkpoint`` and load its weights, checked before allocating.

    The module is first built on PyTorch's ``meta`` device, which allocates nothing, and each
    of its tensors compared (name, shape, dtype) with those the weight file declares; only a
    match is built for real. A crafted ``config.json`` can therefore not request more memory
    than its weight file holds, and a mismatch is one ``ModelError`` line.
    """
    from raikit.models.architectures import build_from_config

    int8 = (checkpoint.config.get("compression") or {}).get("method") == "int8-dynamic"
    signature = None
    if int8:
        from raikit.models.compress import int8_signature as signature
    module = build_to_fit(
        lambda: build_from_config(checkpoint.config),
        _declared_tensors(checkpoint.path / WEIGHTS_FILE),
        config_file=checkpoint.path / CONFIG_FILE,
        signature=signature,
    )
    if int8:
        from raikit.models.compress import load_int8

        return load_int8(checkpoint, _weights(checkpoint))
    return load_weights(checkpoint, module)


def build_to_fit(
    build: Callable[[], torch.nn.Module],
    declared: dict[str, tuple[tuple[int, ...], str]],
    *,
    config_file: Path,
    signature: Callable[[torch.nn.Module], dict] | None = None,
) -> torch.nn.Module:
    """``build()`` once on the ``meta`` device (no memory), and for real only if every tensor
    matches ``declared`` (name -> shape, dtype of the stored weights); else one ``ModelError``.
    ``signature`` gives the tensors a module is stored as (default: its own state dict).
    """
    import torch

    try:
        with torch.device("meta"):
            skeleton = build()
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"'{config_file}' is incomplete or invalid: {_first_line(exc)}") from None
    expected = (
        signature(skeleton)
        if signature is not None
        else {name: tensor_signature(t) for name, t in skeleton.state_dict().items()}
    )
    for name in sorted(expected.keys() | declared.keys()):
        if declared.get(name) != expected.get(name):
            found = "missing" if name not in declared else "shape {} {}".format(*declared[name])
            wanted = "absent" if name not in expected else "shape {} {}".format(*expected[name])
            raise ModelError(
                f"weights beside '{config_file}' do not match it: tensor '{name}' is {found} "
                f"in the weight file, {wanted} in the model it builds"
            )
    return build()


def tensor_signature(tensor: torch.Tensor) -> tuple[tuple[int, ...], str]:
    """``(shape, dtype name)`` of a tensor, as :func:`build_to_fit` compares them."""
    return tuple(tensor.shape), str(tensor.dtype).removeprefix("torch.")


#: safetensors' dtype names, as PyTorch spells them.
_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def _declared_tensors(file: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, dtype) of every tensor in a safetensors file, read from its header."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            slices = {name: handle.get_slice(name) for name in handle.keys()}  # noqa: SIM118
            return {
                name: (tuple(part.get_shape()), _DTYPES.get(part.get_dtype(), part.get_dtype()))
                for name, part in slices.items()
            }
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"cannot load weights from '{file.parent}': {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_weights(checkpoint: Checkpoint, model: torch.nn.Module) -> torch.nn.Module:
    """Load the safetensors weights of ``checkpoint`` into ``model`` (strict) and return it."""
    try:
        model.load_state_dict(_weights(checkpoint), strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"cannot load weights from '{checkpoint.path}': {_first_line(exc)}"
        ) from None
    model.eval()
    return model


def _weights(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(checkpoint.path / WEIGHTS_FILE))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ModelError(
            f"cannot load weights from '{checkpoint.path}': {_first_line(exc)}"
        ) from None


def save_optimizer_state(path: Path, state: dict) -> None:
    """Write an optimizer ``state_dict`` as safetensors: tensors per parameter, groups as JSON.

    Nothing is pickled: per-parameter entries become tensors named ``state.<i>.<key>``
    (numbers too, as 0-d tensors) and the parameter groups go into the file's metadata.
    """
    import torch
    from safetensors.torch import save

    tensors = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{key}"] = tensor.detach().contiguous().cpu()
    metadata = {"format": FORMAT, "param_groups": json.dumps(state["param_groups"])}
    write_file(Path(path) / OPTIMIZER_FILE, save(tensors, metadata=metadata))


def load_optimizer_state(checkpoint: Checkpoint) -> dict | None:
    """The optimizer ``state_dict`` saved with ``checkpoint``, or ``None`` when it has none."""
    from safetensors import SafetensorError, safe_open

    file = checkpoint.path / OPTIMIZER_FILE
    if not file.is_file():
        return None
    try:
        with safe_open(str(file), framework="pt") as handle:
            groups = json.loads(handle.metadata()["param_groups"])
            state: dict[int, dict] = {}
            for name in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = handle.get_tensor(name)
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot read optimizer state from '{file}': {exc}") from None
    return {"state": state, "param_groups": groups}


def record_header(
    table: LoadedTable,
    spec: TrainSpec,
    features: list[str],
    classes: list[str],
    split: dict[str, list[int]],
    *,
    stratified_on: str | None,
) -> dict:
    """The opening of every training record: when, on what data, and with which split."""
    return {
        "created_at": utc_now(),
        "data": {
            "source": table.source,
            "sha256": table.sha256,
            "n_rows": len(table.frame),
            "schema": {
                "label": spec.label,
                "sensitive": list(spec.sensitive),
                "features": features,
                "classes": classes,
            },
        },
        "split": {
            "seed": spec.seed,
            "stratified_on": stratified_on,
            "fractions": {"validation": spec.validation_fraction, "test": spec.test_fraction},
            "sizes": {name: len(rows) for name, rows in split.items()},
            "file": SPLIT_FILE,
        },
    }


def read_json(path: Path) -> dict:
    """Read a JSON object from a model file; any problem is one ``ModelError`` line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model file '{path}' is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"'{path}' is not valid JSON: {exc}") from None
    except RecursionError:
        raise ModelError(f"'{path}' is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ModelError(f"'{path}' does not hold a JSON object")
    return data


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
