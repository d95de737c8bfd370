"""Training any registered architecture: data to inputs, model, loop, checkpoint and record.

:func:`raikit.models.train.train` hands over here for images, text, sequences, private runs,
resumed runs, GPUs and ``torchrun`` launches; the plain tabular MLP keeps its own loop there.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raikit.models.architectures import get_architecture
from raikit.models.checkpoint import (
    Checkpoint,
    load_optimizer_state,
    load_weights,
    prepare_output_dir,
    read_checkpoint,
    record_header,
    save_checkpoint,
    save_optimizer_state,
)
from raikit.models.errors import ConfigError, DataError
from raikit.models.provenance import package_versions
from raikit.models.schema import Schema, validate_frame

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable
    from raikit.models.train import TrainSpec

#: Input kind of each data kind (the ``rnn`` arch reads words for text, numbers otherwise).
INPUT_KINDS = {"tabular": "tabular", "image": "image", "text": "words", "hf-text": "hf-tokenizer"}


def needs_generic_loop(spec: TrainSpec) -> bool:
    """Whether ``spec`` is beyond the plain tabular loop of :mod:`raikit.models.train`."""
    return (
        get_architecture(spec.arch).data_kind != "tabular"
        or spec.privacy is not None
        or spec.resume is not None
        or spec.distributed
        or spec.device == "cuda"
    )


def _columns(table: LoadedTable, spec: TrainSpec, data_kind: str) -> tuple[list[str], str]:
    """Feature columns and input kind."""
    frame = table.frame
    text = spec.text or (table.spec.text if table.spec else None)
    excluded = (*spec.exclude, *(table.spec.exclude_from_features if table.spec else ()))
    if spec.exclude_sensitive or data_kind in ("text", "hf-text"):
        excluded += spec.sensitive
    schema = Schema(label=spec.label, sensitive=spec.sensitive, exclude=excluded)
    validate_frame(frame, schema, source=table.source)
    if data_kind in ("text", "hf-text"):
        if text is None:
            if spec.arch == "rnn":
                return _numeric_columns(frame, schema), "sequence"
            raise ConfigError(f"--arch {spec.arch} needs a text column: pass --text COLUMN")
        if text not in frame.columns:
            raise DataError(f"text column '{text}' not found in {table.source}")
        return [text], INPUT_KINDS[data_kind]
    features = list(schema.feature_columns(frame))
    if not features:
        raise DataError(f"no feature columns left in {table.source} after excluding the label")
    return features, INPUT_KINDS[data_kind]


def _numeric_columns(frame, schema: Schema) -> list[str]:
    columns = [c for c in schema.feature_columns(frame) if np.issubdtype(frame[c].dtype, np.number)]
    if not columns:
        raise DataError("a numeric sequence needs numeric columns (one per time step)")
    return columns


def _targets(table: LoadedTable, spec: TrainSpec) -> tuple[np.ndarray, list[str], bool]:
    from raikit.models.train import encode_labels

    series = table.frame[spec.label]
    regression = spec.task == "regression" or (
        spec.task is None and table.spec is not None and table.spec.task == "regression"
    )
    if regression:
        try:
            return series.to_numpy(dtype=np.float32), [], True
        except (TypeError, ValueError):
            raise DataError(f"regression label '{spec.label}' must be numeric") from None
    labels, classes = encode_labels(series, spec.positive_label)
    return labels, classes, False


def _split(labels: np.ndarray, spec: TrainSpec, regression: bool) -> dict[str, list[int]]:
    from raikit.models.train import split_indices

    if not regression:
        return split_indices(labels, spec)
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(labels))
    n_test = int(round(spec.test_fraction * len(labels)))
    n_val = int(round(spec.validation_fraction * len(labels)))
    parts = {"test": order[:n_test], "validation": order[n_test : n_test + n_val]}
    parts["train"] = order[n_test + n_val :]
    return {k: sorted(int(i) for i in parts[k]) for k in ("train", "validation", "test")}


def _create_model(
    spec: TrainSpec, kind: str, inputs: dict, tensors: tuple, n_out: int, out_dir: Path, texts
) -> tuple[Any, dict, list[str]]:
    """A fresh module for ``spec.arch``, the params that rebuild it, and notes."""
    architecture = get_architecture(spec.arch)
    private = spec.privacy is not None
    if spec.arch == "transformer":
        from raikit.models.transformer import create_finetune

        return create_finetune(
            spec.pretrained, n_out, out_dir, spec.freeze_embeddings, spec.train_layers
        )
    if spec.arch == "encoder":
        from raikit.models.transformer import create_encoder

        return create_encoder(texts, n_out, out_dir, inputs["max_length"], spec.init)
    if kind == "tabular":
        params = {"input_dim": tensors[0].shape[1], "n_classes": n_out}
        params |= {"hidden": list(spec.hidden), "dropout": spec.dropout}
    elif kind == "image":
        channels, height, width = inputs["shape"]
        params = {"n_classes": n_out, "channels": channels, "height": height, "width": width}
    elif kind == "words":
        params = {"n_classes": n_out, "vocab_size": len(inputs["vocabulary"]) + 2}
        params |= {"cell": spec.cell, "dp": private}
    elif kind == "sequence":
        params = {"n_classes": n_out, "n_features": 1, "cell": spec.cell, "dp": private}
    else:
        raise ConfigError(f"--arch {spec.arch} cannot train on {kind} inputs")
    return architecture.build(**params), params, []


def build_from_config(config: dict) -> Any:
    """Rebuild the (untrained) module a checkpoint config describes."""
    params = dict(config["arch_params"])
    if "hidden" in params and isinstance(params["hidden"], list):
        params["hidden"] = tuple(params["hidden"])
    module = get_architecture(config["architecture"]).build(**params)
    if config.get("dp_fixed"):
        from opacus.validators import ModuleValidator

        module = ModuleValidator.fix(module)
    return module


def train_generic(
    table: LoadedTable, spec: TrainSpec, out_dir: Path, *, force: bool = False, progress=True
) -> Checkpoint:
    """Train any architecture (see :func:`raikit.models.train.train`, which calls this)."""
    import torch

    from raikit.models.inputs import encode_inputs, fit_inputs
    from raikit.models.loop import resolve_device, run_epochs, start_distributed

    architecture = get_architecture(spec.arch)
    device = resolve_device(spec.device)
    dist = start_distributed(device) if spec.distributed else None
    if dist is not None and device == "cuda":
        torch.cuda.set_device(dist.local_rank)
    out_dir = Path(out_dir)
    features, kind = _columns(table, spec, architecture.data_kind)
    labels, classes, regression = _targets(table, spec)
    previous = None
    if spec.resume is not None:
        previous = read_checkpoint(Path(spec.resume))
        if previous.record["data"]["sha256"] != table.sha256:
            raise DataError(f"--resume {spec.resume} was trained on other data (sha256 differs)")
        if Path(spec.resume).resolve() != out_dir.resolve():
            prepare_output_dir(out_dir, force=force)
    elif dist is None or dist.is_main:
        prepare_output_dir(out_dir, force=force)
    if dist is not None:
        torch.distributed.barrier()
    split = previous.split if previous else _split(labels, spec, regression)
    options = {"max_categories": spec.max_categories, "max_length": spec.max_length}
    n_out = 1 if regression else len(classes)
    texts = table.frame.iloc[split["train"]][features[0]].astype(str).tolist()
    if previous:
        config = previous.config
        inputs, arch_params, notes = config["inputs"], config["arch_params"], []
        module = load_weights(previous, build_from_config(config)).train()
        _copy_tokenizer(Path(spec.resume), out_dir)
        encoded = encode_inputs(table.frame, inputs, Path(spec.resume))
    else:
        inputs = fit_inputs(kind, table.frame, split["train"], features, options)
        torch.manual_seed(spec.seed)
        if kind == "hf-tokenizer":  # the model brings (or trains) the tokenizer
            module, arch_params, notes = _create_model(
                spec, kind, inputs, (), n_out, out_dir, texts
            )
            encoded = encode_inputs(table.frame, inputs, out_dir)
        else:
            encoded = encode_inputs(table.frame, inputs, out_dir)
            module, arch_params, notes = _create_model(
                spec, kind, inputs, encoded, n_out, out_dir, texts
            )
    target_dtype = torch.float32 if regression else torch.int64
    targets = torch.tensor(np.array(labels), dtype=target_dtype)
    part = {k: torch.tensor(v, dtype=torch.int64) for k, v in split.items()}
    privacy = None
    dp_fixed = bool(previous and previous.config.get("dp_fixed"))
    if spec.privacy is not None:
        from raikit.models.privacy import PrivateTraining, fix_module

        state = previous.record["privacy"] if previous else None
        if state is not None and not state.get("differentially_private"):
            raise ConfigError(f"--resume {spec.resume} was trained without DP; cannot add DP")
        module, changes = fix_module(module)
        dp_fixed = dp_fixed or bool(changes)
        privacy = PrivateTraining(
            spec.privacy, len(split["train"]), spec.batch_size, spec.epochs, state=state
        )
        privacy.module_changes = changes
        for change in changes:
            notes.append(f"changed for DP-SGD by ModuleValidator.fix: {change}")
    elif previous and previous.record["privacy"].get("differentially_private"):
        raise ConfigError(f"--resume {spec.resume} was trained with DP; pass --dp to continue")
    first_epoch = len(previous.record["epochs"]) + 1 if previous else 1
    optimizer_state = load_optimizer_state(previous) if previous else None
    if previous and optimizer_state is None:
        notes.append("resumed without optimizer state (none saved): AdamW moments restart")
    result = run_epochs(
        module,
        tuple(t[part["train"]] for t in (*encoded, targets)),
        tuple(t[part["validation"]] for t in (*encoded, targets)),
        regression=regression,
        epochs=spec.epochs,
        first_epoch=first_epoch,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        weight_decay=spec.weight_decay,
        patience=spec.patience,
        seed=spec.seed,
        device=device,
        privacy=privacy,
        dist=dist,
        optimizer_state=optimizer_state,
        progress=progress,
    )
    if result.stop_message:
        notes.append(result.stop_message)
        if progress and (dist is None or dist.is_main):
            import sys

            print(result.stop_message, file=sys.stderr)
    test = _evaluate(module, encoded, targets, part["test"], regression)
    history = (previous.record["epochs"] if previous else []) + result.history
    config = {
        "architecture": spec.arch,
        "arch_params": arch_params,
        "task": "regression" if regression else "classification",
        "label": spec.label,
        "classes": classes,
        "positive_label": classes[1] if len(classes) == 2 else None,
        "features": features,
        "inputs": inputs,
        "dp_fixed": dp_fixed,
    }
    if kind == "tabular":
        config["preprocessor"] = inputs["preprocessor"]
    epochs_done = len(history)
    record = {
        **record_header(
            table,
            spec,
            features,
            classes,
            split,
            stratified_on=None if regression else spec.label,
        ),
        "hyperparameters": _hyperparameters(spec),
        "epochs": history,
        "best_epoch": result.best_epoch,
        "model_selection": "last epoch (DP)" if privacy else "best validation loss",
        "test": test,
        "privacy": privacy.record(epochs_done, result.stopped_for_budget)
        if privacy
        else {"differentially_private": False},
        "device": device,
        "distributed": {"world_size": dist.world_size} if dist else None,
        "resumed_from": str(spec.resume) if spec.resume else None,
        "notes": notes,
        "packages": package_versions(),
    }
    if dist is not None and not dist.is_main:
        torch.distributed.barrier()
        return Checkpoint(out_dir, config, record, split)
    checkpoint = save_checkpoint(out_dir, module, config, record, split)
    if result.optimizer_state is not None:
        save_optimizer_state(out_dir, result.optimizer_state)
    if dist is not None:
        torch.distributed.barrier()
    return checkpoint


def _copy_tokenizer(source: Path, out_dir: Path) -> None:
    import shutil

    if (source / "tokenizer").is_dir() and source.resolve() != out_dir.resolve():
        shutil.copytree(source / "tokenizer", out_dir / "tokenizer", dirs_exist_ok=True)


def _hyperparameters(spec: TrainSpec) -> dict:
    values = {k: v for k, v in asdict(spec).items() if k != "extra"}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _evaluate(module, encoded, targets, rows, regression: bool) -> dict:
    import torch

    module.eval()
    with torch.no_grad():
        outputs = (
            torch.cat(
                [module(*[t[rows[s : s + 256]] for t in encoded]) for s in range(0, len(rows), 256)]
            )
            if len(rows)
            else torch.zeros(0, 1)
        )
    y = targets[rows]
    if regression:
        mse = float(((outputs.squeeze(-1) - y) ** 2).mean())
        return {"loss": round(mse, 6), "rmse": round(mse**0.5, 6)}
    loss = float(torch.nn.functional.cross_entropy(outputs, y))
    return {
        "loss": round(loss, 6),
        "accuracy": round(float((outputs.argmax(1) == y).float().mean()), 6),
    }
