"""Knowledge distillation: a student trained on a teacher's softened outputs and the labels.

Hinton, Vinyals and Dean (2015): the student's loss on a row is

    (1 - w) CE(y, student) + w T^2 KL(softmax(teacher / T) || softmax(student / T))

with temperature ``T`` and teacher weight ``w``; rows without a label (``unlabelled``) carry
the teacher term only. The student is trained by :func:`raikit.models.train.train` (any
architecture that reads the teacher's columns); only this loss is new. Each row's loss is its
own, so DP-SGD clips it like any other (the teacher is a fixed function of the row).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from raikit.models.errors import ConfigError, DataError
from raikit.models.settings import PositiveFloat, Settings

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from raikit.models.checkpoint import Checkpoint
    from raikit.models.data import LoadedTable


class Distillation(Settings):
    """Where the teacher is and how much the student listens to it."""

    teacher: str
    temperature: PositiveFloat = 2.0
    teacher_weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    # Extra rows (a table with the student's feature columns) that only the teacher labels.
    unlabelled: str | None = None


def distillation_loss(
    student_logits: torch.Tensor,
    targets: torch.Tensor,
    teacher_logits: torch.Tensor,
    labelled: torch.Tensor,
    *,
    temperature: float,
    teacher_weight: float,
) -> torch.Tensor:
    """Hinton et al.'s loss, averaged over the batch's rows (labelled or not).

    Parameters
    ----------
    student_logits, teacher_logits : tensor
        ``(batch, classes)`` logits.
    targets : tensor
        Class indices (any value where ``labelled`` is false).
    labelled : tensor
        ``(batch,)`` booleans: rows whose label enters the cross-entropy term.
    temperature, teacher_weight : float
        ``T`` and ``w``.
    """
    import torch.nn.functional as F

    if bool(labelled.all()):
        # The same call as plain training, so w = 0 trains exactly as `rai train` does.
        hard = F.cross_entropy(student_logits, targets)
    else:
        rows = F.cross_entropy(student_logits, targets, reduction="none")
        hard = (rows * labelled).sum() / max(len(targets), 1)
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        log_target=True,
        reduction="none",
    ).sum(1)
    return (1 - teacher_weight) * hard + teacher_weight * t * t * soft.mean()


@dataclass(frozen=True)
class DistillTerm:
    """What the training loop needs: the teacher's logits for every training row, which rows
    are labelled, and ``T``, ``w``."""

    teacher_logits: torch.Tensor
    labelled: torch.Tensor
    temperature: float
    teacher_weight: float

    def loss(self, outputs, targets, teacher_logits, labelled):
        return distillation_loss(
            outputs,
            targets,
            teacher_logits,
            labelled,
            temperature=self.temperature,
            teacher_weight=self.teacher_weight,
        )


@dataclass
class Teacher:
    """A loaded teacher checkpoint and the sha256 of its weights file."""

    checkpoint: Checkpoint
    model: Any
    weights_sha256: str
    #: Whether the student trains on the teacher's data (then it keeps the teacher's split).
    same_data: bool = False

    def logits(self, frame: pd.DataFrame) -> torch.Tensor:
        """The teacher's logits for each row of ``frame`` (its own columns and encoding)."""
        return self.model.logits(frame)

    def check_fits(self, table: LoadedTable, classes: list[str]) -> None:
        """Refuse a teacher that is no classifier of these classes, or reads other columns."""
        config = self.checkpoint.config
        where = self.checkpoint.path
        if config["task"] != "classification":
            raise ConfigError(f"teacher '{where}' is a {config['task']} model, not a classifier")
        if list(config["classes"]) != list(classes):
            raise ConfigError(
                f"teacher '{where}' predicts classes {config['classes']}; the student's label "
                f"has {classes}: distil on the teacher's label"
            )
        missing = [c for c in config["features"] if c not in table.frame.columns]
        if missing:
            raise DataError(
                f"teacher '{where}' reads column(s) {', '.join(map(repr, missing))}, which "
                f"{table.source} does not have"
            )

    def record(self, spec: Distillation, unlabelled: LoadedTable | None) -> dict:
        """The student's record of its teacher and of how it was distilled."""
        teacher_record = self.checkpoint.record
        return {
            "method": "knowledge distillation (Hinton et al. 2015)",
            "teacher": {
                "path": str(self.checkpoint.path),
                "weights_sha256": self.weights_sha256,
                "architecture": self.checkpoint.config["architecture"],
                "data": teacher_record.get("data", {}).get("source"),
                "privacy": teacher_record.get("privacy"),
            },
            "split": "the teacher's (same data)"
            if self.same_data
            else "its own: the teacher may have trained on the student's test rows",
            "temperature": spec.temperature,
            "teacher_weight": spec.teacher_weight,
            "unlabelled": None
            if unlabelled is None
            else {
                "source": unlabelled.source,
                "sha256": unlabelled.sha256,
                "n_rows": len(unlabelled.frame),
            },
        }


def load_teacher(
    spec: Distillation, table: LoadedTable, classes: list[str]
) -> tuple[Teacher, LoadedTable | None]:
    """The teacher of ``spec`` (checked against the student's data and classes) and the
    unlabelled rows, if any."""
    from raikit.models.checkpoint import WEIGHTS_FILE
    from raikit.models.data import load_table
    from raikit.models.inference import load_model

    model = load_model(spec.teacher)
    digest = hashlib.sha256((Path(spec.teacher) / WEIGHTS_FILE).read_bytes()).hexdigest()
    same_data = model.checkpoint.record["data"]["sha256"] == table.sha256
    teacher = Teacher(model.checkpoint, model, digest, same_data)
    teacher.check_fits(table, classes)
    unlabelled = None
    if spec.unlabelled is not None:
        unlabelled = load_table(spec.unlabelled)
        teacher.check_fits(unlabelled, classes)
    return teacher, unlabelled


def distill_term(
    teacher: Teacher,
    spec: Distillation,
    rows: pd.DataFrame,
    train_tensors: tuple,
    unlabelled: LoadedTable | None,
    inputs: dict,
    model_dir: Path,
) -> tuple[tuple, DistillTerm]:
    """The student's training tensors (those of ``rows``) with the unlabelled rows appended
    (label 0, masked out of the cross-entropy), and the :class:`DistillTerm` of the loop."""
    import torch

    from raikit.models.inputs import encode_inputs

    logits = teacher.logits(rows)
    labelled = torch.ones(len(rows), dtype=torch.bool)
    if unlabelled is not None:
        extra = encode_inputs(unlabelled.frame, inputs, model_dir)
        n = len(unlabelled.frame)
        extra += (torch.zeros(n, dtype=train_tensors[-1].dtype),)
        train_tensors = tuple(torch.cat(pair) for pair in zip(train_tensors, extra, strict=True))
        logits = torch.cat([logits, teacher.logits(unlabelled.frame)])
        labelled = torch.cat([labelled, torch.zeros(n, dtype=torch.bool)])
    return train_tensors, DistillTerm(logits, labelled, spec.temperature, spec.teacher_weight)


def student_guarantee(teacher: dict, n_rows: int) -> str:
    """What a DP student's guarantee covers, naming what it does not: the teacher's data."""
    text = (
        f"example-level, for the student's {n_rows} training rows only (each one protected "
        "unit; rows of the same person are not grouped); the teacher "
        f"'{teacher['path']}' (data {teacher['data']}) saw its own training rows outside this "
        "guarantee"
    )
    privacy = teacher.get("privacy") or {}
    if privacy.get("differentially_private"):
        return (
            f"{text}; the teacher's own record: DP-SGD, epsilon {privacy.get('epsilon')} at "
            f"delta {privacy.get('delta')} ({privacy.get('guarantee')})"
        )
    return f"{text}; the teacher was trained without differential privacy"
