"""Training a classifier on a table and writing its checkpoint and training record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.models.architectures import get_architecture
from raikit.models.checkpoint import Checkpoint, prepare_output_dir, record_header, save_checkpoint
from raikit.models.errors import ConfigError, DataError
from raikit.models.preprocess import fit_preprocessor
from raikit.models.privacy import PrivacySpec
from raikit.models.provenance import package_versions
from raikit.models.schema import Schema, binarize_labels, label_text, validate_frame

if TYPE_CHECKING:
    from raikit.models.data import LoadedTable


@dataclass(frozen=True)
class TrainSpec:
    """What to train: columns, architecture and hyper-parameters.

    Features are every column except the label, ``exclude`` and, when ``exclude_sensitive``,
    the sensitive columns. The split is stratified on the label and seeded with ``seed``.
    """

    label: str
    sensitive: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_sensitive: bool = False
    positive_label: str | None = None
    arch: str = "mlp"
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    max_categories: int = 50
    # Bias mitigation: a column of per-row training weights (never a feature), and a
    # fairness penalty over the groups named in ``group_column`` (one label per row, formed
    # by the caller; never a feature) added to the loss with this weight.
    sample_weight_column: str | None = None
    group_column: str | None = None
    fairness_penalty: float = 0.0
    fairness_constraint: str = "demographic_parity"
    # Architectures beyond the tabular MLP, privacy and placement (see models/trainer.py).
    task: str | None = None
    text: str | None = None
    privacy: PrivacySpec | None = None
    device: str = "auto"
    distributed: bool = False
    resume: str | None = None
    init: str | None = None
    pretrained: str | None = None
    cell: str = "lstm"
    max_length: int = 64
    freeze_embeddings: bool = False
    train_layers: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.validation_fraction < 1 or not 0 < self.test_fraction < 1:
            raise ConfigError("validation and test fractions must each be between 0 and 1")
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ConfigError("validation + test fractions must leave at least 10% for training")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning rate must be positive; got {self.learning_rate}")
        if self.fairness_penalty < 0:
            raise ConfigError(f"fairness penalty must be >= 0; got {self.fairness_penalty}")
        if self.fairness_penalty > 0 and self.group_column is None:
            raise ConfigError("a fairness penalty needs group_column: a column of group labels")


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
        Columns and hyper-parameters.
    out_dir : Path
        Checkpoint directory; an existing non-empty one is refused unless ``force``.
    progress : bool
        Show a progress bar (epochs, losses) on stderr.

    Returns
    -------
    Checkpoint
        The written checkpoint, including its training record.
    """
    import torch
    from tqdm.auto import tqdm

    from raikit.models.trainer import needs_generic_loop, train_generic

    if needs_generic_loop(spec):
        if spec.sample_weight_column is not None or spec.fairness_penalty > 0:
            raise ConfigError(
                "sample weights and the fairness penalty apply to the tabular MLP trained "
                "without DP, resume or distribution; drop one or the other"
            )
        return train_generic(table, spec, out_dir, force=force, progress=progress)
    from raikit.models.fair_training import fairness_penalty

    frame = table.frame
    excluded = (*spec.exclude, *(table.spec.exclude_from_features if table.spec else ()))
    if spec.exclude_sensitive:
        excluded += spec.sensitive
    if spec.sample_weight_column is not None:
        excluded += (spec.sample_weight_column,)
    if spec.group_column is not None:
        excluded += (spec.group_column,)
    schema = Schema(label=spec.label, sensitive=spec.sensitive, exclude=excluded)
    validate_frame(frame, schema, source=table.source)
    features = list(schema.feature_columns(frame))
    if not features:
        raise DataError(f"no feature columns left in {table.source} after excluding the label")
    architecture = get_architecture(spec.arch)
    if architecture.data_kind != "tabular":
        raise ConfigError(f"architecture '{spec.arch}' does not train on tables")

    labels, classes = encode_labels(frame[spec.label], spec.positive_label)
    prepare_output_dir(out_dir, force=force)
    split = split_indices(labels, spec)
    preprocessor = fit_preprocessor(
        frame.iloc[split["train"]][features], max_categories=spec.max_categories
    )
    inputs = torch.from_numpy(preprocessor.transform(frame[features]))
    targets = torch.tensor(labels)

    torch.manual_seed(spec.seed)
    arch_params = {
        "input_dim": inputs.shape[1],
        "n_classes": len(classes),
        "hidden": list(spec.hidden),
        "dropout": spec.dropout,
    }
    model = architecture.build(**{**arch_params, "hidden": tuple(spec.hidden)})
    optimizer = torch.optim.Adam(
        model.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    train_rows = torch.tensor(split["train"])
    row_weight, group_codes = _mitigation_inputs(frame, spec, len(classes))
    generator = torch.Generator().manual_seed(spec.seed)

    def evaluate(rows: list[int]) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits = model(inputs[rows])
            loss = float(loss_fn(logits, targets[rows]))
            accuracy = float((logits.argmax(1) == targets[rows]).float().mean())
        return loss, accuracy

    history, best = [], {"val_loss": float("inf"), "epoch": 0, "state": None}
    bar = tqdm(
        range(1, spec.epochs + 1), desc=f"training {spec.arch}", unit="epoch", disable=not progress
    )
    for epoch in bar:
        model.train()
        order = train_rows[torch.randperm(len(train_rows), generator=generator)]
        total = 0.0
        for start in range(0, len(order), spec.batch_size):
            rows = order[start : start + spec.batch_size]
            optimizer.zero_grad()
            logits = model(inputs[rows])
            if row_weight is None:
                loss = loss_fn(logits, targets[rows])
            else:
                losses = torch.nn.functional.cross_entropy(logits, targets[rows], reduction="none")
                loss = (losses * row_weight[rows]).sum() / row_weight[rows].sum().clamp_min(1e-12)
            if group_codes is not None:
                loss = loss + spec.fairness_penalty * fairness_penalty(
                    logits, targets[rows], group_codes[rows], spec.fairness_constraint
                )
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        val_loss, val_accuracy = evaluate(split["validation"])
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(total / len(order), 6),
                "val_loss": round(val_loss, 6),
                "val_accuracy": round(val_accuracy, 6),
            }
        )
        bar.set_postfix(loss=f"{total / len(order):.4f}", val_loss=f"{val_loss:.4f}")
        if val_loss < best["val_loss"] - 1e-6:
            best = {
                "val_loss": val_loss,
                "epoch": epoch,
                "state": {k: v.clone() for k, v in model.state_dict().items()},
            }
        elif epoch - best["epoch"] >= spec.patience:
            break
    bar.close()
    model.load_state_dict(best["state"])
    test_loss, test_accuracy = evaluate(split["test"])

    config = {
        "architecture": spec.arch,
        "arch_params": arch_params,
        "label": spec.label,
        "classes": classes,
        "positive_label": classes[1] if len(classes) == 2 else None,
        "features": features,
        "preprocessor": preprocessor.to_dict(),
    }
    record = {
        **record_header(table, spec, features, classes, split, stratified_on=spec.label),
        "hyperparameters": asdict(spec),
        "epochs": history,
        "best_epoch": best["epoch"],
        "test": {"loss": round(test_loss, 6), "accuracy": round(test_accuracy, 6)},
        "privacy": {"differentially_private": False},
        "packages": package_versions(),
    }
    return save_checkpoint(out_dir, model, config, record, split)


def _mitigation_inputs(frame: pd.DataFrame, spec: TrainSpec, n_classes: int) -> tuple:
    """Per-row weights and group codes as tensors (``None`` when not asked for)."""
    import torch

    from raikit.models.fair_training import check_constraint

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
        check_constraint(spec.fairness_constraint)
        if n_classes != 2:
            raise ConfigError("a fairness penalty applies to binary labels only")
        column = spec.group_column
        if column not in frame.columns or frame[column].isna().any():
            raise DataError(f"group column '{column}' must be in the data, with no missing values")
        group_codes = torch.tensor(pd.factorize(frame[column])[0], dtype=torch.int64)
    return row_weight, group_codes
