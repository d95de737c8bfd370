"""Knowledge distillation: the loss against hand computations, the student against `rai train`."""

from __future__ import annotations

import copy
import hashlib
import html
import math

import pytest
import torch
import typer
from click.testing import CliRunner

from raikit.audit.cli import app
from raikit.audit.predictor import load_predictor
from raikit.models.checkpoint import load_module, read_checkpoint
from raikit.models.distill import Distillation, distillation_loss
from raikit.models.errors import ConfigError
from raikit.models.inputs import encode_inputs
from raikit.models.train import TrainSpec, train

RAI = typer.main.get_command(app)
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loss_matches_a_hand_computation():
    # Student logits (1, 0), teacher (0, 1), label 0, T = 2, w = 0.25.
    student, teacher = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    ce = math.log(1 + math.exp(-1))  # -log softmax(1, 0)[0]
    p_t = [1 / (1 + math.exp(0.5)), 1 / (1 + math.exp(-0.5))]  # softmax((0, 1) / 2)
    p_s = p_t[::-1]  # softmax((1, 0) / 2)
    kl = sum(p * math.log(p / q) for p, q in zip(p_t, p_s, strict=True))
    value = distillation_loss(
        student,
        torch.tensor([0]),
        teacher,
        torch.tensor([True]),
        temperature=2.0,
        teacher_weight=0.25,
    )
    assert float(value) == pytest.approx(0.75 * ce + 0.25 * 4 * kl, rel=1e-6)


def test_unlabelled_rows_carry_the_teacher_term_only():
    student = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    both = dict(temperature=1.0, teacher_weight=0.5)
    # The second row's label (0, wrong for it) must not count when the row is unlabelled.
    mixed = distillation_loss(
        student, torch.tensor([0, 0]), teacher, torch.tensor([True, False]), **both
    )
    ce_first = math.log(1 + math.exp(-2))
    soft = distillation_loss(
        student, torch.tensor([0, 0]), teacher, torch.tensor([True, True]), temperature=1.0,
        teacher_weight=1.0,
    )  # fmt: skip
    assert float(mixed) == pytest.approx(0.5 * ce_first / 2 + 0.5 * float(soft), rel=1e-6)


def test_a_copy_of_the_teacher_has_zero_distillation_loss_at_t1(arrests_model, arrests_table):
    teacher = load_module(arrests_model)
    student = copy.deepcopy(teacher)
    rows = arrests_table.frame.iloc[arrests_model.split["train"][:500]]
    (x,) = encode_inputs(rows, arrests_model.config["inputs"])
    with torch.no_grad():
        teacher_logits, student_logits = teacher(x), student(x)
    labels = torch.zeros(len(x), dtype=torch.int64)
    value = distillation_loss(
        student_logits,
        labels,
        teacher_logits,
        torch.zeros(len(x), dtype=torch.bool),
        temperature=1.0,
        teacher_weight=1.0,
    )
    assert abs(float(value)) < 1e-7


def test_teacher_weight_zero_is_exactly_rai_train(arrests_model, arrests_table, tmp_path):
    recipe = TrainSpec(label="released", sensitive=("colour", "sex"), hidden=(8,), epochs=2)
    plain = train(arrests_table, recipe, tmp_path / "plain", progress=False)
    distilled = train(
        arrests_table,
        recipe.replace(
            distillation=Distillation(teacher=str(arrests_model.path), teacher_weight=0.0)
        ),
        tmp_path / "student",
        progress=False,
    )
    a, b = load_module(plain).state_dict(), load_module(distilled).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)
    # ... and the teacher's term does move it.
    moved = train(
        arrests_table,
        recipe.replace(
            distillation=Distillation(teacher=str(arrests_model.path), teacher_weight=0.5)
        ),
        tmp_path / "moved",
        progress=False,
    )
    c = load_module(moved).state_dict()
    assert not all(torch.equal(a[name], c[name]) for name in a)


def test_rai_distill_writes_a_checkpoint_that_names_its_teacher(
    arrests_model, arrests_table, tmp_path
):
    unlabelled = tmp_path / "unlabelled.csv"
    arrests_table.frame.drop(columns="released").head(300).to_csv(unlabelled, index=False)
    out = tmp_path / "student"
    result = runner.invoke(
        RAI,
        f"distill --teacher {arrests_model.path} --hidden '' --temperature 3 --teacher-weight 0.7 "
        f"--unlabelled {unlabelled} --epochs 2 --quiet --out {out}",
    )
    assert result.exit_code == 0, result.output
    record = read_checkpoint(out).record["distillation"]
    weights = (arrests_model.path / "model.safetensors").read_bytes()
    assert record["teacher"]["path"] == str(arrests_model.path)
    assert record["teacher"]["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert (record["temperature"], record["teacher_weight"]) == (3.0, 0.7)
    assert record["unlabelled"]["n_rows"] == 300
    assert read_checkpoint(out).split == arrests_model.split  # the teacher's held-out rows
    # A logistic regression (no hidden layer), scored like any checkpoint.
    assert read_checkpoint(out).config["arch_params"]["hidden"] == []
    scores = load_predictor(out).predict_proba(arrests_table.frame.head(5))
    assert scores.shape == (5, 2)


def test_a_private_student_says_what_its_guarantee_covers(arrests_table, tmp_path):
    base = TrainSpec(label="released", sensitive=("colour",), hidden=(8,), epochs=1)
    teacher = train(
        arrests_table,
        base.replace(privacy={"noise_multiplier": 1.0}),
        tmp_path / "teacher",
        progress=False,
    )
    out = tmp_path / "student"
    unlabelled = tmp_path / "unlabelled.csv"
    arrests_table.frame.drop(columns="released").tail(200).to_csv(unlabelled, index=False)
    result = runner.invoke(
        RAI,
        f"distill --teacher {teacher.path} --hidden 4 --epochs 1 --quiet --dp "
        f"--noise-multiplier 1.0 --unlabelled {unlabelled} --out {out}",
    )
    assert result.exit_code == 0, result.output
    privacy = read_checkpoint(out).record["privacy"]
    n_train = len(teacher.split["train"]) + 200  # the unlabelled rows are protected too
    assert privacy["n_train_rows"] == n_train
    guarantee = privacy["guarantee"]
    assert f"the student's {n_train} training rows only" in guarantee
    assert f"the teacher '{teacher.path}'" in guarantee
    assert f"epsilon {teacher.record['privacy']['epsilon']}" in guarantee  # quoted
    # ... and the audit report says it.
    audited = runner.invoke(
        RAI,
        f"audit --model {out} --data arrests --label released --sensitive colour "
        f"--n-bootstrap 100 --out {tmp_path / 'audit'}",
    )
    assert audited.exit_code == 0, audited.output
    report = html.unescape((tmp_path / "audit" / "report.html").read_text())
    assert guarantee in report


def test_a_teacher_of_other_classes_is_refused(arrests_model, arrests_table, tmp_path):
    spec = TrainSpec(label="sex", distillation=Distillation(teacher=str(arrests_model.path)))
    with pytest.raises(ConfigError, match=r"predicts classes \['No', 'Yes'\]"):
        train(arrests_table, spec, tmp_path / "student", progress=False)


@pytest.mark.parametrize(
    ("data", "label", "teacher_fields", "student_fields"),
    [
        ("digits", "digit", {"arch": "cnn"}, {"arch": "cnn", "cnn_hidden": 8}),
        ("identity-text", "sentiment", {"arch": "rnn"}, {"arch": "rnn", "cell": "rnn"}),
    ],
    ids=["cnn-to-narrower-cnn", "lstm-to-elman-rnn"],
)
def test_other_architecture_pairs_distil_privately(
    data, label, teacher_fields, student_fields, tmp_path
):
    from raikit.models.data import load_table
    from raikit.models.privacy import PrivacySpec

    table = load_table(data)
    teacher = train(
        table, TrainSpec(label=label, epochs=1, **teacher_fields), tmp_path / "t", progress=False
    )
    spec = TrainSpec(
        label=label,
        epochs=1,
        batch_size=256,
        privacy=PrivacySpec(noise_multiplier=1.0),
        distillation=Distillation(teacher=str(teacher.path)),
        **student_fields,
    )
    student = train(table, spec, tmp_path / "s", progress=False)
    n_teacher, n_student = (
        sum(t.numel() for t in load_module(c).state_dict().values()) for c in (teacher, student)
    )
    assert n_student < n_teacher
    assert student.record["privacy"]["engine"] == "raikit-bookkeeping"
    assert student.record["distillation"]["teacher"]["architecture"] == teacher_fields["arch"]
    assert load_predictor(student.path).predict_proba(table.frame.head(3)).shape[0] == 3
