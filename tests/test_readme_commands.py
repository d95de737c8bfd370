"""Every command in the README's bash blocks runs as written from a fresh clone.

"Fresh clone" means after `make demo` (which makes `.venv` and `demo-output/`), from the
repository root. The commands are not run (some train for many minutes); each one is checked
for what would stop it: a `rai` command must parse with the real `rai` options, hold no `...`
placeholder, read only what exists (a built-in dataset, a file of the repository,
`demo-output/`, or what an earlier command of the README wrote) and write neither over a file
of the repository nor over an earlier command's output without `--force`.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
from contextlib import redirect_stdout
from functools import cache
from itertools import dropwhile
from pathlib import Path, PurePosixPath

import pytest
import typer

from raikit.audit.cli import app
from raikit.models.datasets import list_datasets

try:  # typer vendors click from 0.2x on
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError

ROOT = Path(__file__).resolve().parents[1]
#: Options (by parameter name) whose value is a file or folder a command reads.
INPUTS = {"data", "model", "predictions", "corpus", "policy", "impact", "resume", "init"}
INPUTS |= {"evidence", "lexicon", "pretrained", "hierarchy", "canaries", "teacher", "unlabelled"}
#: ... and those it writes.
OUTPUTS = {"out", "junit", "anonymize"}
#: Options that need something a fresh clone does not have (a running Dask scheduler).
OUTSIDE = {"scheduler"}
#: Exceptions: `rai scan-pii --model` names a spaCy package, not a path.
NOT_PATHS = {("scan-pii", "model")}
#: Programs a README command may start with besides `rai`, `torchrun ... rai` and `python`.
OTHER_PROGRAMS = {"make", "."}


def bash_commands(readme: str) -> list[list[str]]:
    """The commands of every ```bash block, as words: continuations joined, comments and
    `&&`/`;` separators removed."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words: list[str] = []
            for word in shlex.split(line, comments=True):
                if word in {"&&", "||", ";"}:
                    commands.append(words)
                    words = []
                else:
                    words.append(word)
            commands.append(words)
    return [words for words in commands if words]


@cache
def tracked_paths() -> frozenset[PurePosixPath]:
    """The files of the repository (tracked by git) and the folders that hold them."""
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = [PurePosixPath(line) for line in listing.splitlines()]
    return frozenset(files).union(*(f.parents for f in files))


@cache
def _rai():
    return typer.main.get_command(app)


def _parse(args: list[str]) -> tuple[str, dict]:
    """The sub-command's name and its parameters (defaults included), as `rai` parses them.

    Raises click's ``UsageError`` for an unknown or missing option, a bad value or an unknown
    command.
    """
    command = _rai()
    names: list[str] = []
    try:
        with redirect_stdout(io.StringIO()):  # `--help` prints
            context = command.make_context("rai", args)
            while hasattr(command, "resolve_command"):  # a group: `rai`, `rai impact`
                # click keeps the sub-command's name apart, in a private attribute
                rest = [*context._protected_args, *context.args]
                if not rest:
                    break
                name, command, rest = command.resolve_command(context, rest)
                names.append(name)
                context = command.make_context(name, rest, parent=context)
    except typer.Exit as exc:  # --help
        assert exc.exit_code == 0
        return " ".join(names), {}
    return " ".join(names), context.params


def _rai_args(words: list[str]) -> list[str] | None:
    """The arguments of a `rai` command (`rai`, `.venv/bin/rai`, under `torchrun`), else None."""
    if words[0] == "torchrun":  # torchrun [its options] .venv/bin/rai ARGS
        words = list(dropwhile(lambda word: PurePosixPath(word).name != "rai", words))
    if words and PurePosixPath(words[0]).name == "rai":
        return words[1:]
    return None


def check_commands(readme: str) -> list[str]:
    """What would stop each README command from running as written, one line per problem."""
    datasets = {spec.name for spec in list_datasets()}
    written: list[PurePosixPath] = []  # outputs of the commands so far, in order
    problems = []

    def made_before(path: PurePosixPath) -> bool:
        return any(path == out or out in path.parents for out in written)

    for words in bash_commands(readme):
        shown = shlex.join(words)
        if any("..." in word for word in words):
            problems.append(f"{shown}: '...' placeholder")
            continue
        args = _rai_args(words)
        if args is None:
            if words[0] == "python":
                script = PurePosixPath(words[1])
                if script.suffix == ".py" and script not in tracked_paths():
                    problems.append(f"{shown}: {script} is not a file of the repository")
            elif words[0] not in OTHER_PROGRAMS:
                problems.append(f"{shown}: a command this test does not check")
            continue
        try:
            name, params = _parse(args)
        except UsageError as exc:
            problems.append(f"{shown}: {exc.format_message()}")
            continue
        for option, value in params.items():
            if value is None or (name, option) in NOT_PATHS:
                continue
            if option in OUTSIDE:
                problems.append(f"{shown}: --{option} needs what a fresh clone does not have")
            if option in INPUTS and not (
                (option == "data" and value in datasets)
                or PurePosixPath(value).parts[:1] == ("demo-output",)
                or PurePosixPath(value) in tracked_paths()
                or made_before(PurePosixPath(value))
            ):
                problems.append(f"{shown}: {value} does not exist yet")
        for option in OUTPUTS & params.keys():
            if params[option] is None:
                continue
            path = PurePosixPath(params[option])
            if path in tracked_paths():
                problems.append(f"{shown}: writes over {path}, a file of the repository")
            in_place = params.get("resume") is not None and PurePosixPath(params["resume"]) == path
            if path in written and not params.get("force") and not in_place:
                problems.append(f"{shown}: {path} was written before (needs --force)")
            written.append(path)
    return problems


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_readme_command_runs_as_written():
    problems = check_commands(README)
    assert not problems, "README commands that cannot run as written:\n" + "\n".join(problems)


def test_the_readme_shows_commands_of_every_kind():
    commands = [_rai_args(words) for words in bash_commands(README)]
    names = {_parse(args)[0] for args in commands if args is not None}
    assert {"train", "audit", "report", "gate", "model-card", "scan-pii", "impact init"} <= names
    assert sum(args is not None for args in commands) >= 30


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("rai audit --modle runs/x --out a", "No such option"),
        ("rai train --data arrests --out runs/x", "Missing option '--label'"),
        ("rai audit ... --impact examples/impact.yaml --out a", "'...' placeholder"),
        ("rai audit --predictions preds.csv --out a", "preds.csv does not exist yet"),
        ("rai gate audits/x/evidence.json --policy policy.yaml", "policy.yaml does not exist"),
        ("rai model-card demo-output/evidence.json --out README.md", "writes over README.md"),
        ("rai model-card demo-output/evidence.json", "writes over README.md"),
        ("rai impact init --out examples/", "writes over examples"),
        ("rai scan-pii --data big.parquet --out s", "big.parquet does not exist yet"),
        ("rai scan-pii --data a.csv --engine dask --scheduler tcp://h --out s", "--scheduler"),
        ("python benchmarks/nowhere.py", "not a file of the repository"),
        ("pip install raikit", "a command this test does not check"),
    ],
)
def test_a_broken_command_is_reported(command, problem):
    readme = f"```bash\n{command}\n```\n"
    assert any(problem in line for line in check_commands(readme)), check_commands(readme)


def test_inputs_may_come_from_earlier_commands_only():
    train = "rai train --data arrests --label released --out runs/a"
    audit = "rai audit --model runs/a --data arrests --out audits/a"
    later = "rai report audits/a/evidence.json --out a.html"
    assert check_commands(f"```bash\n{train}\n{audit}\n{later}\n```\n") == []
    problems = check_commands(f"```bash\n{audit}\n{train}\n```\n")
    assert problems == [f"{audit}: runs/a does not exist yet"]
    again = f"```bash\n{train}\n{train}\n{train} --force\n```\n"
    assert check_commands(again) == [f"{train}: runs/a was written before (needs --force)"]


def test_continuations_comments_and_chains_are_split_like_bash():
    readme = (
        "```bash\n"
        "rai train --data arrests \\\n"
        '          --label released --out "runs/a b"  # a comment: --force\n'
        "rai pretrain --data bbc-news --text text --out runs/m && rai datasets\n"
        "```\n"
        "```python\nrai = 1\n```\n"
    )
    assert bash_commands(readme) == [
        ["rai", "train", "--data", "arrests", "--label", "released", "--out", "runs/a b"],
        ["rai", "pretrain", "--data", "bbc-news", "--text", "text", "--out", "runs/m"],
        ["rai", "datasets"],
    ]
