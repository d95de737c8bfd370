"""Exit codes: bad input is exit 2 with one line, never 3 (a raikit bug) or a traceback.

Every `rai` command (taken from the CLI's own registry, so a new one must be added here) is run
with each of its file and directory options replaced, one at a time, by a bad input of every
class that option can receive.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import typer
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from raikit.audit.cli import COMMANDS, GROUPS, app
from raikit.models.data import load_table
from raikit.models.train import TrainSpec, train

runner = CliRunner()
# Built once: typer rebuilds the click command on every invoke, most of a failing run's time.
RAI = typer.main.get_command(app)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Nesting past Python's recursion limit (1,000 frames; PyYAML spends a few per level).
DEEP = {"json": 1_200, "yaml": 600}

# The base invocation of each command (valid, cheap), and the options fuzzed with their kind.
# Tokens in braces are files of the `workspace` fixture; {fresh} is a new path per case.
BASE = {
    "train": (
        "train --data {table} --label released --sensitive colour --epochs 1 --hidden 4 --quiet"
        " --out {fresh}",
        {"--data": "table", "--out": "out_dir", "--resume": "model", "--init": "model"},
    ),
    "train --audit-canaries": (
        "train --data {table} --label released --epochs 1 --hidden 4 --quiet --dp"
        " --noise-multiplier 1 --audit-canaries 10 --out {fresh}",
        {"--data": "table", "--out": "out_dir"},
    ),
    "pretrain": (
        "pretrain --data {texts} --text text --epochs 1 --vocab-size 50 --quiet --out {fresh}",
        {"--data": "table", "--out": "out_dir"},
    ),
    "distill": (
        "distill --teacher {model} --data {table} --epochs 1 --hidden 4 --quiet --out {fresh}",
        {"--teacher": "model", "--data": "table", "--unlabelled": "table", "--out": "out_dir"},
    ),
    "compress": (
        "compress {model} --int8 --data {table} --out {fresh}",
        {"model": "model", "--data": "table", "--out": "out_dir"},
    ),
    "audit": (
        "audit --model {model} --data {table} --label released --sensitive colour"
        " --n-bootstrap 100 --out {fresh}",
        {
            "--model": "model",
            "--data": "table",
            "--impact": "impact",
            "--policy": "yaml",
            "--representation": "yaml",
            "--out": "out_dir",
        },
    ),
    "audit --predictions": (
        "audit --predictions {predictions} --sensitive g --n-bootstrap 100 --out {fresh}",
        {"--predictions": "table"},
    ),
    "report": ("report {evidence} --out {fresh}", {"evidence": "json", "--out": "out_file"}),
    "gate": ("gate {evidence} --policy {policy}", {"evidence": "json", "--policy": "yaml"}),
    "model-card": (
        "model-card {evidence} --out {fresh}",
        {"evidence": "json", "--out": "out_file"},
    ),
    "datasets": ("datasets", {}),
    "demo": ("demo --out {fresh}", {"--out": "out_dir"}),
    "mitigate": (
        "mitigate --model {model} --data {table} --label released --sensitive colour"
        " --n-bootstrap 100 --out {fresh}",
        {"--model": "model", "--data": "table", "--out": "out_dir"},
    ),
    "scan-pii": (
        "scan-pii --data {table} --no-ner --out {fresh}",
        {"--data": "table", "--out": "out_dir", "--anonymize": "out_file"},
    ),
    "scan-pii --k": (
        "scan-pii --data {table} --no-ner --quasi age --quasi sex --sensitive released --k 5"
        " --l 2 --anonymize {fresh}.csv --out {fresh}",
        {"--data": "table", "--hierarchy": "yaml"},
    ),
    "scan-pii --corpus": (
        "scan-pii --corpus {corpus} --no-ner --out {fresh}",
        {"--corpus": "text"},
    ),
    "attack": (
        "attack --model {model} --data {table} --sensitive colour --shadows 0 --out {fresh}",
        {"--model": "model", "--data": "table", "--out": "out_dir", "--canaries": "json"},
    ),
    "plant-canaries": (
        "plant-canaries --data {table} --text colour --label released --out {fresh}",
        {"--data": "table", "--out": "out_dir"},
    ),
    "explain": (
        "explain --model {model} --data {table} --row 0 --out {fresh}",
        {"--model": "model", "--data": "table", "--out": "out_file"},
    ),
    "robustness": (
        "robustness --model {model} --data {table} --sensitive colour --attack fgsm"
        " --epsilon 0.1 --n-bootstrap 100 --out {fresh}",
        {"--model": "model", "--data": "table", "--lexicon": "yaml", "--out": "out_dir"},
    ),
    "slices": (
        "slices --model {model} --data {table} --label released --sensitive colour"
        " --column employed --out {fresh}",
        {"--model": "model", "--data": "table", "--out": "out_dir"},
    ),
    "slices --predictions": (
        "slices --predictions {predictions} --sensitive g --out {fresh}",
        {"--predictions": "table"},
    ),
    "impact init": ("impact init --no-interactive --out {fresh}", {"--out": "out_file"}),
    "reproduce": (
        "reproduce {evidence} --out {fresh}",
        {"evidence": "json", "--data": "table", "--model": "model", "--out": "out_dir"},
    ),
}

FILE_CLASSES = ["missing", "directory", "empty", "garbage", "nested"]
CLASSES = {
    "table": [*FILE_CLASSES, "one_row", "one_class", "group_of_one"],
    "yaml": FILE_CLASSES,
    "impact": [*FILE_CLASSES, "invalid_date"],
    "json": FILE_CLASSES,
    "text": ["missing", "directory", "empty", "garbage"],
    "model": [
        "missing",
        "file",
        "empty_dir",
        "config_nested",
        "config_garbage",
        "config_bad_values",
        "config_negative_size",
        "config_huge_layers",
        "config_unknown_architecture",
        "record_not_object",
        "split_out_of_range",
        "weights_truncated",
        "weights_missing_tensor",
        "weights_wrong_shape",
        "weights_wrong_dtype",
        "weights_of_another_model",
    ],
    "out_dir": ["existing_file", "unwritable"],
    "out_file": ["existing_file", "directory", "unwritable"],
}
# Inputs nothing can use: always exit 2 (crafted models and odd tables may also be usable).
UNUSABLE = {"missing", "directory", "empty", "garbage", "nested", "file", "empty_dir"}
# Content classes that make sense only where the rows are fitted on.
FITTED_ONLY = {"one_class", "group_of_one"}
FITTING = {"train", "mitigate", "distill"}


def command_names() -> set[str]:
    names = {command.__name__.replace("_", "-") for command in COMMANDS}
    for group in GROUPS:
        names |= {
            f"{group.info.name} {(c.name or c.callback.__name__).replace('_', '-')}"
            for c in group.registered_commands
        }
    return names


def cases():
    for key, (_, options) in BASE.items():
        for option, kind in options.items():
            for name in CLASSES[kind]:
                if name in FITTED_ONLY and key not in FITTING:
                    continue
                yield pytest.param(key, option, kind, name, id=f"{key}|{option}|{name}")


def test_every_command_is_fuzzed():
    assert {key.split(" --")[0] for key in BASE} == command_names()


def _deep(language: str = "json") -> str:
    return "[" * DEEP[language] + "]" * DEEP[language]


@pytest.fixture(scope="module")
def workspace(arrests_table, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    frame = arrests_table.frame.sample(120, random_state=0).reset_index(drop=True)
    paths = {"root": root, "table": root / "table.csv", "model": root / "model"}
    frame.to_csv(paths["table"], index=False)
    spec = TrainSpec(label="released", sensitive=("colour",), epochs=1, hidden=(4,))
    train(load_table(str(paths["table"])), spec, paths["model"], progress=False)
    paths["texts"] = root / "texts.csv"
    pd.DataFrame({"text": ["a short note about nothing"] * 20}).to_csv(paths["texts"], index=False)
    paths["predictions"] = root / "predictions.csv"
    pd.DataFrame(
        {"y_true": [0, 1] * 30, "y_pred": [0, 1, 1, 0] * 15, "g": ["a"] * 30 + ["b"] * 30}
    ).to_csv(paths["predictions"], index=False)
    paths["corpus"] = root / "corpus.txt"
    paths["corpus"].write_text("a line of text\nanother line\n")
    paths["policy"] = EXAMPLES / "policy.yaml"
    result = rai(
        "audit --predictions {predictions} --sensitive g --n-bootstrap 100 --out {out}",
        {**paths, "out": root / "audited"},
    )
    assert result.exit_code == 0, result.output
    paths["evidence"] = root / "audited" / "evidence.json"
    return paths


def rai(template: str, paths: dict):
    args = [token.format(**{k: str(v) for k, v in paths.items()}) for token in template.split()]
    return runner.invoke(RAI, args)


def bad_input(kind: str, name: str, paths: dict, where: Path) -> Path:
    """Make a bad input of class ``name`` for an option of ``kind`` under ``where``."""
    suffix = {"table": ".csv", "yaml": ".yaml", "impact": ".yaml", "json": ".json"}.get(
        kind, ".txt"
    )
    path = where / f"input{suffix}"
    if kind == "model":
        return _crafted_model(name, paths["model"], where)
    if name == "missing":
        return path
    if name in ("directory",):
        path.mkdir()
    elif name == "empty":
        path.write_bytes(b"")
    elif name == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif name == "nested":
        if kind == "table":
            path = path.with_suffix(".jsonl")
        path.write_text(_deep("yaml" if suffix == ".yaml" else "json") + "\n")
    elif name == "invalid_date":
        text = (EXAMPLES / "impact.yaml").read_text()
        path.write_text(text + "\nassessed_on: 2024-13-45\n")
    elif name in ("one_row", "one_class", "group_of_one"):
        frame = pd.read_csv(paths["table"])
        if name == "one_row":
            frame = frame.head(1)
        elif name == "one_class":
            frame["released"] = frame["released"].iloc[0]
        else:
            frame.loc[0, "colour"] = "Other"
        frame.to_csv(path, index=False)
    elif name == "existing_file":
        path.write_text("the user's own file")
    elif name == "unwritable":
        blocker = where / "a-file"
        blocker.write_text("not a directory")
        path = blocker / "out"
    return path


def _crafted_model(name: str, source: Path, where: Path) -> Path:
    model = where / "model"
    if name == "missing":
        return model
    if name == "file":
        model.write_text("not a model")
        return model
    model.mkdir()
    if name == "empty_dir":
        return model
    for file in source.iterdir():
        if file.is_file():
            shutil.copy(file, model / file.name)
    config = json.loads((model / "config.json").read_text())
    weights = load_file(str(model / "model.safetensors"))
    first = next(name for name, tensor in weights.items() if tensor.dim() == 2)
    if name == "config_nested":
        (model / "config.json").write_text(_deep())
    elif name == "config_garbage":
        (model / "config.json").write_bytes(bytes(range(256)))
    elif name.startswith("config_"):
        params = config["arch_params"]
        if name == "config_bad_values":
            params["hidden"] = ["wide"]
        elif name == "config_negative_size":
            params["hidden"] = [-4]
        elif name == "config_huge_layers":  # 2**17 x 2**17 floats: 64 GiB if it were built
            params["hidden"] = [2**17, 2**17]
        elif name == "config_unknown_architecture":
            config["architecture"] = "mpl"
        (model / "config.json").write_text(json.dumps(config))
    elif name == "record_not_object":
        (model / "training.json").write_text("[]")
    elif name == "split_out_of_range":
        (model / "split.json").write_text(json.dumps({"train": [0], "test": [10**9]}))
    elif name == "weights_truncated":
        data = (model / "model.safetensors").read_bytes()
        (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    else:
        if name == "weights_missing_tensor":
            del weights[first]
        elif name == "weights_wrong_shape":
            weights[first] = weights[first][:, 1:].contiguous()
        elif name == "weights_wrong_dtype":
            weights = {k: (v * 100).to(torch.int64) for k, v in weights.items()}
        elif name == "weights_of_another_model":
            weights = {k: v.repeat(2, *([1] * (v.dim() - 1))) for k, v in weights.items()}
        save_file(weights, str(model / "model.safetensors"))
    return model


def assert_clean_exit(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


@pytest.mark.parametrize(("key", "option", "kind", "name"), list(cases()))
def test_bad_input_is_one_line_and_exit_2(workspace, tmp_path, key, option, kind, name):
    template, _ = BASE[key]
    bad = bad_input(kind, name, workspace, tmp_path)
    before = bad.read_bytes() if bad.is_file() else None
    paths = {**workspace, "fresh": tmp_path / "fresh"}
    tokens = template.split()
    if option in ("evidence", "model"):  # positional arguments
        tokens[tokens.index(f"{{{option}}}")] = str(bad)
    elif option in tokens:
        tokens[tokens.index(option) + 1] = str(bad)
    else:
        tokens += [option, str(bad)]
    result = rai(" ".join(tokens), paths)
    assert_clean_exit(result)
    # A corpus is text with undecodable bytes replaced: garbage is a (scannable) corpus.
    if name in UNUSABLE and not (kind == "text" and name == "garbage"):
        assert result.exit_code == 2, result.output
    if kind.startswith("out_"):
        assert result.exit_code == 2, result.output
        if before is not None:
            assert bad.read_bytes() == before  # the user's file is untouched


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "train --data {table} --label released --arch cnn --out {fresh}",
            "--arch cnn reads pixel columns (numbers); column 'colour' of ",
        ),
        (
            "train --data {table} --label released --arch mlp --init {model} --out {fresh}",
            "--init applies to --arch encoder; got --arch mlp instead",
        ),
        (
            "train --data {table} --label released --audit-canaries 3 --out {fresh}",
            "--audit-canaries must be 0 (no audit) or at least 10; got 3 instead",
        ),
        (
            "train --data {table} --label released --audit-confidence 1 --out {fresh}",
            "audit_confidence must be in [0.5, 1); got 1.0 instead",
        ),
        (
            "pretrain --data {texts} --text text --max-length 0 --out {fresh}",
            "max_length must be at least 1; got 0 instead",
        ),
        (
            "pretrain --data {texts} --text text --batch-size 0 --out {fresh}",
            "batch_size must be at least 1; got 0 instead",
        ),
    ],
)
def test_bad_option_values_exit_2(workspace, tmp_path, command, message):
    """Option values that reached torch or pandas unchecked (and exited 3)."""
    result = rai(command, {**workspace, "fresh": tmp_path / "fresh"})
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "fresh").exists()


def test_datasets_runs(workspace):
    assert rai("datasets", workspace).exit_code == 0


def test_internal_error_exits_3_and_debug_shows_the_traceback(monkeypatch):
    import raikit.models.datasets

    def broken():
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(raikit.models.datasets, "list_datasets", broken)
    result = runner.invoke(RAI, ["datasets"])
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "error: unexpected ZeroDivisionError: planted bug (set RAIKIT_DEBUG=1 to see the traceback)"
    ]
    monkeypatch.setenv("RAIKIT_DEBUG", "1")
    result = runner.invoke(RAI, ["datasets"])
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: planted bug")


def test_the_registry_is_what_the_cli_runs():
    """`COMMANDS` and `GROUPS` are the commands `rai --help` lists (nothing registered aside)."""
    assert set(RAI.commands) == {name.split()[0] for name in command_names()}
