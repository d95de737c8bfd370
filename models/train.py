"""Training any registered architecture: one path from a table to a checkpoint.

:func:`train` is the only way raikit trains a classifier or regressor, the tabular MLP
included: the table's feature columns and targets, a seeded split, inputs fitted on the
training rows (:mod:`raikit.models.inputs`), a fresh (or resumed) module of ``spec.arch``, the
one epoch loop (:mod:`raikit.models.loop`: DP-SGD, DDP, sample weights, a fairness penalty,
best-validation-epoch selection), then the checkpoint (one ``config.json`` layout,
:func:`raikit.models.checkpoint.model_config`) and its training record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field, StrictBool, model_validator
from typing_extensions import Self

from raikit.models.architectures import get_architecture
from raikit.models.checkpoint import (
    Checkpoint,
    load_module,
    load_optimizer_state,
    model_config,
    read_checkpoint,
    record_header,
    save_checkpoint,
    save_optimizer_state,
)
from raikit.models.distill import Distillation, distill_term, load_teacher, student_guarantee
from raikit.models.errors import ConfigError, DataError
from raikit.models.files import staged_directory
from raikit.models.privacy import PrivacySpec
from raikit.models.provenance import package_versions
from raikit.models.schema import Schema, binarize_labels, label_text, validate_frame
from raikit.models.settings import (
    ConfidenceLevel,
    Count,
    Device,
    Fraction,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Seed,
    Settings,
)
from raikit.models.tensorboard_log import LOG_DIR, log_dir, tensorboard_log
from raikit.models.threads import use_threads_for

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable

#: Input kind of each data kind ``train`` handles (the ``rnn`` arch reads words for text,
#: numbers otherwise); other data kinds (``mlm``) are trained by ``rai pretrain``.
INPUT_KINDS = {"tabular": "tabular", "image": "image", "text": "words", "hf-text": "hf-tokenizer"}

#: Fewest canaries of a one-run audit (fewer can prove next to nothing).
MIN_CANARIES = 10


class TrainSpec(Settings):
    """What to train: columns, architecture, hyper-parameters, mitigation, privacy, placement.

    Features are every column except the label, ``exclude``, the sample weight column and,
    when ``exclude_sensitive`` (always for text models), the sensitive columns. The split is
    seeded with ``seed`` and, for a classifier, stratified on the label.
    """

    label: str
    sensitive: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_sensitive: bool = False
    positive_label: str | None = None
    arch: str = "mlp"
    hidden: tuple[PositiveInt, ...] = (64, 32)
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 128
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 1e-4
    patience: PositiveInt = 5
    validation_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15
    seed: Seed = 0
    max_categories: PositiveInt = 50
    # Categories held by fewer training rows are pooled into one "__other__" bucket and never
    # stored in the checkpoint (see raikit.models.preprocess).
    min_frequency: PositiveInt = 5
    # Keep a mostly-distinct column instead of refusing it (raikit.models.preprocess): set for
    # retrainings of a recipe that already accepted the column, e.g. shadow models.
    accept_free_text: bool = False
    # Bias mitigation: a column of per-row training weights (never a feature), and a
    # fairness penalty over the groups named in ``group_column`` (one label per row, formed
    # by the caller; never a feature) added to the loss with this weight. Any architecture;
    # not with DP-SGD.
    sample_weight_column: str | None = None
    group_column: str | None = None
    fairness_penalty: NonNegativeFloat = 0.0
    fairness_constraint: str = "demographic_parity"
    # Text and sequence inputs, privacy, placement, resuming and pretrained starting points.
    task: str | None = None
    text: str | None = None
    privacy: PrivacySpec | None = None
    device: Device = "auto"
    distributed: bool = False
    resume: str | None = None
    init: str | None = None
    pretrained: str | None = None
    cell: str = "lstm"
    # Width of the CNN's fully connected layer (a narrower student for `rai distill`).
    cnn_hidden: PositiveInt = 128
    max_length: PositiveInt = 64
    freeze_embeddings: bool = False
    train_layers: int | None = None
    # TensorBoard logs of the per-epoch figures: in the checkpoint's `tensorboard/` (True),
    # in this directory, or none (False). Where logs go is not part of the recipe.
    tensorboard: StrictBool | Path = True
    # A one-run privacy audit (raikit.models.canaries): this many canaries, each trained on
    # with probability 1/2, and the confidence of the epsilon lower bound they give.
    audit_canaries: Count = 0
    audit_confidence: ConfidenceLevel = 0.95
    # Knowledge distillation from a teacher checkpoint (`rai distill`).
    distillation: Distillation | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ConfigError(
                "validation_fraction + test_fraction must leave at least 10% for training; got "
                f"{self.validation_fraction:g} + {self.test_fraction:g} instead"
            )
        if self.init is not None and self.arch != "encoder":
            raise ConfigError(f"--init applies to --arch encoder; got --arch {self.arch} instead")
        if self.fairness_penalty > 0 and self.group_column is None:
            raise ConfigError("a fairness penalty needs group_column: a column of group labels")
        if self.distillation is not None and (
            self.sample_weight_column is not None or self.fairness_penalty > 0
        ):
            raise ConfigError(
                "distillation cannot be combined with sample weights or the fairness penalty"
            )
        if self.privacy is not None and (
            self.sample_weight_column is not None or self.fairness_penalty > 0
        ):
            # DP-SGD bounds each row's influence by clipping its own gradient; a weight
            # normalised over the batch, or a penalty over the batch's groups, reaches past it.
            raise ConfigError(
                "sample weights and the fairness penalty cannot be combined with DP-SGD "
                "(they mix rows within a batch, which the accountant does not cover); "
                "drop one or the other"
            )
        if 0 < self.audit_canaries < MIN_CANARIES:
            raise ConfigError(
                f"--audit-canaries must be 0 (no audit) or at least {MIN_CANARIES}; got "
                f"{self.audit_canaries} instead"
            )
        if self.audit_canaries and self.resume is not None:
            raise ConfigError(
                "--audit-canaries cannot be combined with --resume: canaries go in from the "
                "first step"
            )
        if self.audit_canaries and (
            self.sample_weight_column is not None or self.fairness_penalty > 0
        ):
            raise ConfigError(
                "--audit-canaries cannot be combined with sample weights or a fairness penalty"
            )
        if self.audit_canaries and self.distillation is not None:
            raise ConfigError("--audit-canaries cannot be combined with distillation")
        return self


def encode_labels(series: pd.Series, positive_label: str | None) -> tuple[np.ndarray, list[str]]:
    """Class indices and class names; binary labels put the positive class at index 1."""
    if series.nunique() == 2:
        codes, positive = binarize_labels(series, positive_label)
        negative = next(label_text(v) for v in series.unique() if label_text(v) != positive)
        return codes.astype(np.int64), [negative, positive]
    if positive_label is not None:
        raise ConfigError("--positive-label applies to binary labels only")
    texts = series.map(label_text)
    classes = sorted(texts.unique())
    lookup = {name: index for index, name in enumerate(classes)}
    return texts.map(lookup).to_numpy(dtype=np.int64), classes


def split_indices(labels: np.ndarray, spec: TrainSpec) -> dict[str, list[int]]:
    """Seeded, label-stratified train/validation/test row positions."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(labels))
    held_out = spec.validation_fraction + spec.test_fraction
    try:
        train, rest = train_test_split(
            positions, test_size=held_out, random_state=spec.seed, stratify=labels
        )
        validation, test = train_test_split(
            rest,
            test_size=spec.test_fraction / held_out,
            random_state=spec.seed,
            stratify=labels[rest],
        )
    except ValueError as exc:
        raise DataError(f"cannot split {len(labels)} rows by label: {exc}") from None
    return {
        name: sorted(int(i) for i in part)
        for name, part in (("train", train), ("validation", validation), ("test", test))
    }


def train(
    table: LoadedTable,
    spec: TrainSpec,
    out_dir: Path,
    *,
    force: bool = False,
    progress: bool = True,
) -> Checkpoint:
    """Train ``spec.arch`` on ``table`` and write a checkpoint to ``out_dir``.

    Parameters
    ----------
    table : LoadedTable
        The data, from :func:`raikit.models.data.load_table`.
    spec : TrainSpec
        Columns, architecture, hyper-parameters, privacy, mitigation and placement.
    out_dir : Path
        Checkpoint directory; an existing non-empty one is refused unless ``force`` (or it is
        the ``spec.resume`` directory, continued in place).
    progress : bool
        Show a progress bar (epochs, losses) on stderr.

    Returns
    -------
    Checkpoint
        The written checkpoint, including its training record.
    """
    import torch

    from raikit.models.loop import resolve_device, run_epochs, start_distributed

    architecture = get_architecture(spec.arch)
    if architecture.data_kind not in INPUT_KINDS:
        raise ConfigError(
            f"architecture '{spec.arch}' is not trained by `rai train` ({architecture.description})"
        )
    device = resolve_device(spec.device)
    dist = start_distributed(device) if spec.distributed else None
    if dist is not None and device == "cuda":
        torch.cuda.set_device(dist.local_rank)
    out_dir = Path(out_dir)
    features, kind = _columns(table, spec, architecture.data_kind)
    labels, classes, regression = _targets(table, spec)
    row_weight, group_codes = _mitigation_inputs(table.frame, spec, len(classes))
    teacher = unlabelled = None
    if spec.distillation is not None:
        if regression or spec.resume is not None:
            raise ConfigError("distillation trains a fresh classifier: no regression, no --resume")
        teacher, unlabelled = load_teacher(spec.distillation, table, classes)
    previous = None
    if spec.resume is not None:
        previous = read_checkpoint(Path(spec.resume))
        if previous.record["data"]["sha256"] != table.sha256:
            raise DataError(f"--resume {spec.resume} was trained on other data (sha256 differs)")
        if previous.config.get("compression"):
            raise ConfigError(
                f"--resume {spec.resume} was made by `rai compress`; resume the model it came from"
            )
    in_place = previous is not None and previous.path.resolve() == out_dir.resolve()
    is_main = dist is None or dist.is_main
    # Built in a staging directory and swapped in whole: a failed save (or an in-place resume
    # that fails) leaves the previous checkpoint as it was, never new weights beside an old record.
    with staged_directory(out_dir, overwrite=force or in_place, create=is_main) as staging:
        if dist is not None:
            torch.distributed.barrier()
        split = previous.split if previous else _split(labels, spec, regression, teacher)
        n_out = 1 if regression else len(classes)
        inputs, encoded, module, arch_params, notes = _inputs_and_module(
            table, spec, kind, features, split, n_out, staging, previous
        )
        if device == "cpu":
            use_threads_for(module)
        target_dtype = torch.float32 if regression else torch.int64
        targets = torch.tensor(np.array(labels), dtype=target_dtype)
        part = {k: torch.tensor(v, dtype=torch.int64) for k, v in split.items()}
        train_tensors = tuple(t[part["train"]] for t in (*encoded, targets))
        distill = canaries = None
        if teacher is not None:
            rows = table.frame.iloc[split["train"]]
            train_tensors, distill = distill_term(
                teacher, spec.distillation, rows, train_tensors, unlabelled, inputs, staging
            )
        if spec.audit_canaries:
            canaries = _canaries(spec, regression, train_tensors, n_out, inputs, staging)
            train_tensors = canaries.appended_to(train_tensors)
        n_train = len(train_tensors[-1])
        module, privacy, dp_fixed = _private_training(spec, module, n_train, previous)
        if privacy is not None:
            notes += [
                f"changed for DP-SGD by ModuleValidator.fix: {c}" for c in privacy.module_changes
            ]
        first_epoch = len(previous.record["epochs"]) + 1 if previous else 1
        optimizer_state = load_optimizer_state(previous) if previous else None
        if previous and optimizer_state is None:
            notes.append("resumed without optimizer state (none saved): AdamW moments restart")
        if previous and spec.tensorboard is True and is_main:
            _copy_folder(previous.path, staging, LOG_DIR)  # the resumed run's log continues
        logs = log_dir(spec.tensorboard, staging) if is_main else None
        with tensorboard_log(logs, first_epoch) as write_log:
            result = run_epochs(
                module,
                train_tensors,
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
                sample_weight=None if row_weight is None else row_weight[part["train"]],
                group_codes=None if group_codes is None else group_codes[part["train"]],
                fairness_penalty=spec.fairness_penalty,
                fairness_constraint=spec.fairness_constraint,
                distill=distill,
                progress=progress,
                on_epoch=write_log,
            )
        if result.stop_message:
            notes.append(result.stop_message)
            if progress and (dist is None or dist.is_main):
                import sys

                print(result.stop_message, file=sys.stderr)
        history = (previous.record["epochs"] if previous else []) + result.history
        test = _evaluate(module, encoded, targets, part["test"], regression, classes)
        if test.get("degenerate"):  # `rai train` prints the notes
            notes.append(_degenerate_warning(test["degenerate"], len(history)))
        config = model_config(
            architecture=spec.arch,
            arch_params=arch_params,
            task="regression" if regression else "classification",
            label=spec.label,
            classes=classes,
            inputs=inputs,
            dp_fixed=dp_fixed,
        )
        privacy_record = (
            privacy.record(len(history), result.stopped_for_budget)
            if privacy
            else {"differentially_private": False}
        )
        if canaries is not None:
            privacy_record["one_run_audit"] = _one_run_audit(
                spec, module, canaries, inputs["kind"], privacy, privacy_record, n_train
            )
        distillation = None
        if teacher is not None:
            distillation = teacher.record(spec.distillation, unlabelled)
            if privacy is not None:
                privacy_record["guarantee"] = student_guarantee(distillation["teacher"], n_train)
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
            "privacy": privacy_record,
            "device": device,
            "distributed": {"world_size": dist.world_size} if dist else None,
            "resumed_from": str(spec.resume) if spec.resume else None,
            "initialized_from": _initialized_from(spec, previous),
            "distillation": distillation,
            "notes": notes,
            "packages": package_versions(),
        }
        if not is_main:
            torch.distributed.barrier()
            return Checkpoint(out_dir, config, record, split)
        save_checkpoint(staging, module, config, record, split)
        if result.optimizer_state is not None:
            save_optimizer_state(staging, result.optimizer_state)
    if dist is not None:
        torch.distributed.barrier()
    return Checkpoint(out_dir, config, record, split)


def _columns(table: LoadedTable, spec: TrainSpec, data_kind: str) -> tuple[list[str], str]:
    """Feature columns and input kind (never the label, an exclusion or the weight column)."""
    frame = table.frame
    text = spec.text or (table.spec.text if table.spec else None)
    excluded = (*spec.exclude, *(table.spec.exclude_from_features if table.spec else ()))
    if spec.exclude_sensitive or data_kind in ("text", "hf-text"):
        excluded += spec.sensitive
    if spec.sample_weight_column is not None:
        excluded += (spec.sample_weight_column,)
    if spec.group_column is not None:
        excluded += (spec.group_column,)
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
    if data_kind == "image":
        words = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        if words:
            raise DataError(
                f"--arch {spec.arch} reads pixel columns (numbers); column '{words[0]}' of "
                f"{table.source} is not numeric (exclude it, or use --arch mlp for a table)"
            )
    return features, INPUT_KINDS[data_kind]


def _numeric_columns(frame, schema: Schema) -> list[str]:
    columns = [c for c in schema.feature_columns(frame) if pd.api.types.is_numeric_dtype(frame[c])]
    if not columns:
        raise DataError("a numeric sequence needs numeric columns (one per time step)")
    return columns


def _targets(table: LoadedTable, spec: TrainSpec) -> tuple[np.ndarray, list[str], bool]:
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


def _split(labels: np.ndarray, spec: TrainSpec, regression: bool, teacher=None) -> dict:
    if teacher is not None and teacher.same_data:
        # The teacher's own held-out rows: the student is never tested on rows it learnt
        # about from the teacher.
        return teacher.checkpoint.split
    if not regression:
        return split_indices(labels, spec)
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(labels))
    n_test = int(round(spec.test_fraction * len(labels)))
    n_val = int(round(spec.validation_fraction * len(labels)))
    parts = {"test": order[:n_test], "validation": order[n_test : n_test + n_val]}
    parts["train"] = order[n_test + n_val :]
    return {k: sorted(int(i) for i in parts[k]) for k in ("train", "validation", "test")}


def _inputs_and_module(
    table: LoadedTable,
    spec: TrainSpec,
    kind: str,
    features: list[str],
    split: dict[str, list[int]],
    n_out: int,
    out_dir: Path,
    previous: Checkpoint | None,
) -> tuple[dict, tuple, Any, dict, list[str]]:
    """Inputs (description and tensors), module, its params and notes: fitted on the training
    rows and freshly built (seeded), or those of the checkpoint being resumed."""
    import torch

    from raikit.models.inputs import encode_inputs, fit_inputs

    if previous is not None:
        config = previous.config
        module = load_module(previous).train()
        _copy_folder(Path(spec.resume), out_dir, "tokenizer")
        encoded = encode_inputs(table.frame, config["inputs"], Path(spec.resume))
        return config["inputs"], encoded, module, config["arch_params"], []
    options = {
        "max_categories": spec.max_categories,
        "min_frequency": spec.min_frequency,
        "accept_free_text": spec.accept_free_text,
        "max_length": spec.max_length,
    }
    inputs = fit_inputs(kind, table.frame, split["train"], features, options)
    torch.manual_seed(spec.seed)
    if kind == "hf-tokenizer":  # the model brings (or trains) the tokenizer
        texts = table.frame.iloc[split["train"]][features[0]].astype(str).tolist()
        module, arch_params, notes = _create_model(spec, kind, inputs, (), n_out, out_dir, texts)
        return inputs, encode_inputs(table.frame, inputs, out_dir), module, arch_params, notes
    encoded = encode_inputs(table.frame, inputs, out_dir)
    module, arch_params, notes = _create_model(spec, kind, inputs, encoded, n_out, out_dir, [])
    return inputs, encoded, module, arch_params, notes


def _private_training(
    spec: TrainSpec, module: Any, n_train: int, previous: Checkpoint | None
) -> tuple[Any, Any, bool]:
    """The module made fit for Opacus and the DP engine (continuing a resumed accountant),
    or ``None`` for a run without DP; and whether the module was changed for DP-SGD."""
    dp_fixed = bool(previous and previous.config.get("dp_fixed"))
    was_private = bool(previous and previous.record["privacy"].get("differentially_private"))
    if spec.privacy is None:
        if was_private:
            raise ConfigError(f"--resume {spec.resume} was trained with DP; pass --dp to continue")
        return module, None, dp_fixed
    from raikit.models.privacy import PrivateTraining, fix_module

    if previous and not was_private:
        raise ConfigError(f"--resume {spec.resume} was trained without DP; cannot add DP")
    module, changes = fix_module(module)
    state = previous.record["privacy"] if previous else None
    privacy = PrivateTraining(spec.privacy, n_train, spec.batch_size, spec.epochs, state=state)
    privacy.module_changes = changes
    return module, privacy, dp_fixed or bool(changes)


def _canaries(spec: TrainSpec, regression: bool, trained: tuple, n_out: int, inputs, out_dir):
    """The run's canaries (:mod:`raikit.models.canaries`), made from ``spec.seed``."""
    from raikit.models.canaries import make_canaries

    if regression:
        raise ConfigError("--audit-canaries needs a classifier (canaries get random labels)")
    return make_canaries(spec.audit_canaries, spec.seed, trained[:-1], n_out, inputs, out_dir)


def _one_run_audit(spec, module, canaries, kind, privacy, privacy_record, n_trained) -> dict:
    """The one-run audit of the trained ``module``, at the run's δ (``1/(10 n)`` without DP)."""
    from raikit.models.canaries import audit_record, canary_scores
    from raikit.models.privacy import resolve_delta

    return audit_record(
        canary_scores(module, canaries),
        canaries.included,
        seed=spec.seed,
        kind=kind,
        delta=privacy.delta if privacy else resolve_delta(None, n_trained),
        confidence=spec.audit_confidence,
        claimed_epsilon=privacy_record.get("epsilon"),
    )


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
        params["hidden"] = spec.cnn_hidden
    elif kind == "words":
        params = {"n_classes": n_out, "vocab_size": len(inputs["vocabulary"]) + 2}
        params |= {"cell": spec.cell, "dp": private}
    elif kind == "sequence":
        params = {"n_classes": n_out, "n_features": 1, "cell": spec.cell, "dp": private}
    else:
        raise ConfigError(f"--arch {spec.arch} cannot train on {kind} inputs")
    module = architecture.build(**params)
    notes = []
    if kind in ("words", "sequence") and private:
        layer = type(module.rnn).__name__
        notes.append(f"recurrent layer: raikit {layer} (per-example gradients for DP-SGD)")
    return module, params, notes


def _mitigation_inputs(frame: pd.DataFrame, spec: TrainSpec, n_classes: int) -> tuple:
    """Per-row weights and group codes as tensors (``None`` when not asked for)."""
    import torch

    row_weight = group_codes = None
    if spec.sample_weight_column is not None:
        column = spec.sample_weight_column
        if column not in frame.columns:
            raise DataError(f"sample weight column '{column}' is not in the data")
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all() or (values < 0).any():
            raise DataError(f"sample weight column '{column}' must hold finite numbers >= 0")
        row_weight = torch.tensor(values, dtype=torch.float32)
    if spec.fairness_penalty > 0:
        from raikit.models.fair_training import check_constraint  # imports sklearn

        check_constraint(spec.fairness_constraint)
        if n_classes != 2:
            raise ConfigError("a fairness penalty applies to binary labels only")
        column = spec.group_column
        if column not in frame.columns or frame[column].isna().any():
            raise DataError(f"group column '{column}' must be in the data, with no missing values")
        group_codes = torch.tensor(pd.factorize(frame[column])[0], dtype=torch.int64)
    return row_weight, group_codes


def _initialized_from(spec: TrainSpec, previous: Checkpoint | None) -> dict | None:
    """The ``rai pretrain`` run an encoder started from: its directory, data and guarantee."""
    if previous is not None:
        return previous.record.get("initialized_from")
    if spec.arch != "encoder" or spec.init is None:
        return None
    pretrained = read_checkpoint(Path(spec.init)).record
    return {"path": spec.init, "data": pretrained["data"], "privacy": pretrained["privacy"]}


def _copy_folder(source: Path, out_dir: Path, name: str) -> None:
    """Copy the resumed checkpoint's folder ``name`` (tokenizer, logs) into ``out_dir``."""
    import shutil

    if (source / name).is_dir() and source.resolve() != out_dir.resolve():
        shutil.copytree(source / name, out_dir / name, dirs_exist_ok=True)


def _hyperparameters(spec: TrainSpec) -> dict:
    """Every ``TrainSpec`` field but where logs go, as plain JSON (what ``recipe_from_record``
    rebuilds it from: a shadow model must not write into the target's TensorBoard log)."""
    return spec.model_dump(mode="json", exclude={"tensorboard"})


def _evaluate(module, encoded, targets, rows, regression: bool, classes: list[str]) -> dict:
    """Loss and accuracy on the test rows; for a classifier, why it is degenerate, if it is."""
    import torch

    from raikit.models.degenerate import confusion_matrix, degenerate_reason

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
    predicted = outputs.argmax(1)
    confusion = confusion_matrix(y.numpy(), predicted.numpy(), len(classes))
    return {
        "loss": round(loss, 6),
        "accuracy": round(float((predicted == y).float().mean()), 6),
        "degenerate": degenerate_reason(confusion, classes),
    }


def _degenerate_warning(reason: str, epochs_run: int) -> str:
    """What a degenerate model's trainer is told, and what usually helps."""
    advice = "check that the features carry signal and how imbalanced the classes are"
    if epochs_run < 10:
        advice = (
            f"it was trained for only {epochs_run} epoch(s): train longer (--epochs), and {advice}"
        )
    return (
        f"warning: the model is degenerate on the test rows: {reason}; its fairness and robustness "
        f"figures will mean nothing; {advice}"
    )
