"""Post-training compression: dynamic int8 quantisation and magnitude pruning.

Both write a normal checkpoint (``load_module`` and ``rai audit`` read it) whose record holds
its size on disk and CPU latency per row beside the original's, measured the same way on the
same rows. int8 uses torch's ``quantize_dynamic`` on every ``nn.Linear`` (weights int8 with one
scale per tensor, activations quantised on the fly); the int8 weights are stored as int8
tensors with their scale, so the file is smaller for real, and loading never unpickles.
Convolutions, embeddings, norms and recurrent cells stay float32. Pruning zeroes the given
share of the Linear and convolution weights with the smallest magnitude, over all of those
layers at once (``torch.nn.utils.prune.global_unstructured``), made permanent; the file keeps
its dense layout, so pruning alone does not shrink it.
"""

from __future__ import annotations

import shutil
import statistics
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raikit.models.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    import torch

    from raikit.models.checkpoint import Checkpoint

INT8 = "int8-dynamic"
PRUNING = "magnitude-pruning"
#: Rows scored one at a time for the latency, and rounds (median) of that measurement.
LATENCY_ROWS = 64
LATENCY_ROUNDS = 3
_SCALE = ".weight_scale"


def linear_layers(module: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Name -> layer of every plain ``nn.Linear`` (what dynamic int8 quantises)."""
    from torch import nn

    return {name: m for name, m in module.named_modules() if type(m) is nn.Linear}


def quantize_int8(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every ``nn.Linear`` dynamically quantised to int8 (a new module)."""
    import torch
    from torch import nn

    if not linear_layers(module):
        raise ModelError(
            "int8 dynamic quantisation applies to Linear layers (and torch's own LSTM/GRU); "
            "this model has no Linear layer"
        )
    with warnings.catch_warnings():
        # torch announces the end of its quantised dtypes; until then this is its int8 path.
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def prune_magnitude(module: torch.nn.Module, sparsity: float) -> int:
    """Zero ``round(sparsity * n)`` of the ``n`` Linear/convolution weights, smallest |w|
    first over all such layers together, in place and permanently; returns ``n``."""
    from torch import nn
    from torch.nn.utils import prune

    if not 0 <= sparsity < 1:
        raise ConfigError(f"--prune must be a share in [0, 1); got {sparsity:g} instead")
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d)
    targets = [(m, "weight") for m in module.modules() if isinstance(m, kinds)]
    if not targets:
        raise ModelError("pruning applies to Linear and convolution weights; this model has none")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    for layer, name in targets:
        prune.remove(layer, name)
    return sum(layer.weight.numel() for layer, _ in targets)


def int8_tensors(quantized: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of a quantised module as safetensors can hold them: each quantised
    Linear's weight as int8 plus its scale (``<name>.weight_scale``), the rest as they are."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    layers = {n: m for n, m in quantized.named_modules() if isinstance(m, QuantizedLinear)}
    tensors = {
        name: value
        for name, value in quantized.state_dict().items()
        if not any(name.startswith(f"{layer}.") for layer in layers)
    }
    for name, layer in layers.items():
        weight, bias = layer._weight_bias()
        if weight.qscheme() != torch.per_tensor_affine and weight.qscheme() != (
            torch.per_tensor_symmetric
        ):
            raise ModelError(f"layer '{name}' is not quantised per tensor")
        tensors[f"{name}.weight"] = weight.int_repr()
        tensors[f"{name}{_SCALE}"] = torch.tensor(weight.q_scale(), dtype=torch.float64)
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach()
    return {name: t.detach().contiguous().cpu() for name, t in tensors.items()}


def int8_signature(module: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, dtype) of the tensors :func:`int8_tensors` writes for ``module``."""
    from raikit.models.checkpoint import tensor_signature

    expected = {name: tensor_signature(t) for name, t in module.state_dict().items()}
    for name in linear_layers(module):
        expected[f"{name}.weight"] = (expected[f"{name}.weight"][0], "int8")
        expected[f"{name}{_SCALE}"] = ((), "float64")
    return expected


def load_int8(checkpoint: Checkpoint, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The quantised module of an int8 checkpoint, from its float architecture and ``state``
    (already checked against :func:`int8_signature`)."""
    import torch

    from raikit.models.architectures import build_from_config

    module = build_from_config(checkpoint.config)
    layers = linear_layers(module)
    int8 = {f"{n}.weight" for n in layers} | {f"{n}{_SCALE}" for n in layers}
    module.load_state_dict({k: v for k, v in state.items() if k not in int8}, strict=False)
    quantized = quantize_int8(module.eval())
    named = dict(quantized.named_modules())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
        for name in layers:
            scale = float(state[f"{name}{_SCALE}"])
            weight = torch._make_per_tensor_quantized_tensor(state[f"{name}.weight"], scale, 0)
            named[name].set_weight_bias(weight, named[name].bias())
    return quantized.eval()


def compress(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    int8: bool = False,
    sparsity: float | None = None,
    data: str | None = None,
    force: bool = False,
) -> Checkpoint:
    """Write an int8 (``int8``) or pruned (``sparsity``) copy of a checkpoint to ``out_dir``.

    Parameters
    ----------
    model_dir : path
        A raikit checkpoint (not already compressed).
    out_dir : path
        The new checkpoint; never ``model_dir`` itself.
    int8 : bool
        Dynamic int8 quantisation of every Linear layer.
    sparsity : float, optional
        Share of the Linear and convolution weights to set to zero, by magnitude.
    data : str, optional
        Table to measure on (default: the model's training data, by its recorded source);
        its test split is used when it is the training data (same sha256), else every row.

    Returns
    -------
    Checkpoint
        The written checkpoint; ``record["compression"]`` holds the method, size on disk and
        CPU latency per row of both models, and ``record["test"]`` the compressed model's
        accuracy on the measured rows.
    """
    import copy

    import torch

    from raikit.models.checkpoint import (
        WEIGHTS_FILE,
        load_module,
        read_checkpoint,
        save_checkpoint,
        weights_bytes,
    )
    from raikit.models.files import staged_directory
    from raikit.models.threads import use_threads_for

    if int8 == (sparsity is not None):
        raise ConfigError("give exactly one of int8 and sparsity")
    source = read_checkpoint(Path(model_dir))
    out_dir = Path(out_dir)
    if out_dir.absolute().resolve() == source.path.absolute().resolve():
        raise ConfigError("--out must be a new directory, not the model being compressed")
    if source.config.get("compression"):
        raise ConfigError(f"'{model_dir}' is already compressed ({source.config['compression']})")
    original = load_module(source)
    use_threads_for(original)
    module = copy.deepcopy(original)
    facts: dict[str, Any] = {}
    if int8:
        module = quantize_int8(module)
        tensors = int8_tensors(module)
        facts = {"method": INT8, "quantized_layers": len(linear_layers(original))}
    else:
        n_weights = prune_magnitude(module, sparsity)
        tensors = module.state_dict()
        facts = {"method": PRUNING, "sparsity": sparsity, "prunable_weights": n_weights}
    settings = dict(facts)
    rows, frame, labels = _measurement_rows(source, data)
    latency = _latency_per_row((original, module), source, frame)
    accuracy = [_accuracy(m, source, frame, labels) for m in (original, module)]
    facts |= {
        "size_bytes": len(weights_bytes(tensors)),
        "latency_ms_per_row": latency[1],
        "latency_threads": torch.get_num_threads(),
        "parameters": _parameters(tensors),
        "measured_on": rows,
        "source": {
            "path": str(source.path),
            "size_bytes": (source.path / WEIGHTS_FILE).stat().st_size,
            "latency_ms_per_row": latency[0],
            "parameters": _parameters(original.state_dict()),
            "test_accuracy": accuracy[0],
        },
    }
    record = source.record | {
        "compression": facts,
        "test": {"accuracy": accuracy[1], "rows": rows},
        "notes": [*source.record.get("notes", []), _note(facts)],
    }
    with staged_directory(out_dir, overwrite=force) as staging:
        tokenizer = source.path / "tokenizer"
        if tokenizer.is_dir():
            shutil.copytree(tokenizer, staging / "tokenizer")
        config = source.config | {"compression": settings}
        saved = save_checkpoint(staging, tensors, config, record, source.split)
    return type(saved)(out_dir, saved.config, saved.record, saved.split)


def _note(facts: dict) -> str:
    if facts["method"] == INT8:
        return (
            "int8 dynamic quantisation of the Linear layers (torch quantize_dynamic); "
            "convolutions, embeddings, norms and recurrent cells stay float32"
        )
    return (
        f"magnitude pruning: {facts['sparsity']:g} of the Linear/convolution weights set to zero "
        "(stored dense: the file is no smaller)"
    )


def _parameters(tensors: dict) -> int:
    """Stored numbers (weights, biases, buffers; an int8 weight's scale counts as one)."""
    return int(sum(t.numel() for t in tensors.values()))


def _measurement_rows(source: Checkpoint, data: str | None) -> tuple[str, Any, Any]:
    """Which rows are measured (described), the frame of those rows, and their class indices."""
    from raikit.models.images import load_table_or_images
    from raikit.models.schema import label_text

    given = data if data is not None else (source.record.get("data") or {}).get("source")
    if not isinstance(given, str):
        raise DataError(f"'{source.path}' does not record its data; pass --data")
    if source.config["task"] != "classification":
        raise ConfigError("compression measures accuracy: it applies to classifiers only")
    table = load_table_or_images(given)
    frame = table.frame
    if table.sha256 == source.record["data"].get("sha256"):
        frame, rows = frame.iloc[source.split["test"]], f"the test split of {table.source}"
    else:
        rows = f"every row of {table.source} (not the model's training data)"
    label = source.config["label"]
    if label not in frame.columns:
        raise DataError(f"label column '{label}' not found in {table.source}")
    lookup = {name: index for index, name in enumerate(source.config["classes"])}
    labels = frame[label].map(label_text).map(lookup)
    if labels.isna().any() or not len(frame):
        raise DataError(f"{table.source} has no rows, or labels the model does not know")
    return f"{rows} ({len(frame)} rows)", frame, labels.to_numpy()


def _encode(source: Checkpoint, frame) -> tuple:
    from raikit.models.inputs import encode_inputs

    return encode_inputs(frame, source.config["inputs"], source.path)


def _accuracy(module, source: Checkpoint, frame, labels) -> float:
    import torch

    tensors = _encode(source, frame)
    with torch.no_grad():
        predicted = torch.cat(
            [
                module(*[t[s : s + 256] for t in tensors]).argmax(1)
                for s in range(0, len(frame), 256)
            ]
        )
    return round(float((predicted.numpy() == labels).mean()), 6)


def _latency_per_row(modules: tuple, source: Checkpoint, frame) -> list[float]:
    """CPU milliseconds per row, each row scored alone (batch of one), for each module:
    median of :data:`LATENCY_ROUNDS` rounds over the first :data:`LATENCY_ROWS` rows, the
    modules interleaved within each round so that they share the machine's state."""
    import torch

    tensors = _encode(source, frame.iloc[:LATENCY_ROWS])
    n = len(tensors[0])
    rounds: list[list[float]] = [[] for _ in modules]
    with torch.no_grad():
        for module in modules:  # warm-up
            module(*[t[:1] for t in tensors])
        for _ in range(LATENCY_ROUNDS):
            for times, module in zip(rounds, modules, strict=True):
                started = time.perf_counter()
                for i in range(n):
                    module(*[t[i : i + 1] for t in tensors])
                times.append((time.perf_counter() - started) * 1000 / n)
    return [round(statistics.median(times), 5) for times in rounds]
