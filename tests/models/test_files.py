"""Atomic writes: a failed write leaves what was there before, and no temporary file."""

import errno
import hashlib
import os
import shutil

import pytest

from raikit.models import files
from raikit.models.checkpoint import CONFIG_FILE, RECORD_FILE, WEIGHTS_FILE
from raikit.models.errors import OutputError
from raikit.models.files import staged_directory, write_file, write_files
from raikit.models.train import TrainSpec, train


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fail_on_call(monkeypatch, name, number=None, when=None):
    """Make ``os.<name>`` raise ENOSPC on its ``number``-th call, or on calls ``when`` accepts."""
    real, calls = getattr(os, name), []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == number or (when is not None and when(*args)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(files.os, name, flaky)
    return calls


def test_full_disk_on_the_second_file_writes_neither(tmp_path, monkeypatch):
    fail_on_call(monkeypatch, "fsync", 2)
    with pytest.raises(OutputError) as error:
        write_files({tmp_path / "evidence.json": "{}", tmp_path / "report.html": "<html>"})
    assert str(error.value) == f"cannot write '{tmp_path / 'report.html'}': No space left on device"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing_call", [2, 4])
def test_a_failed_rename_restores_the_files_it_replaced(tmp_path, monkeypatch, failing_call):
    # With overwrite each file is set aside (call 1, 3) and its new version renamed in (2, 4).
    first, second = tmp_path / "evidence.json", tmp_path / "report.html"
    first.write_text("old evidence")
    second.write_text("old report")
    fail_on_call(monkeypatch, "replace", failing_call)
    with pytest.raises(OutputError, match="No space left on device"):
        write_files({first: "new evidence", second: "new report"}, overwrite=True)
    assert first.read_text() == "old evidence"
    assert second.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.json", "report.html"]


def test_an_existing_file_is_refused_without_overwrite(tmp_path):
    path = tmp_path / "impact.yaml"
    path.write_text("mine")
    with pytest.raises(OutputError, match="already exist.*pass --force"):
        write_file(path, "template", overwrite=False)
    assert path.read_text() == "mine"
    write_file(path, "template", overwrite=True)
    assert path.read_text() == "template"


def test_a_file_written_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    """The existence check and the final link are separate steps; the link still refuses."""
    path, other = tmp_path / "evidence.json", tmp_path / "report.html"
    real = files._write_temporary

    def other_run_finishes_first(target, data):
        temporary = real(target, data)
        if target == other:
            path.write_text("the other run's evidence")
        return temporary

    monkeypatch.setattr(files, "_write_temporary", other_run_finishes_first)
    with pytest.raises(OutputError, match="evidence.json already exists .*pass --force"):
        write_files({path: "mine", other: "my report"}, overwrite=False)
    assert path.read_text() == "the other run's evidence"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.json"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.parent.joinpath("file").write_text("x"), "is not a directory"),
    ],
)
def test_unusable_output_paths(tmp_path, make, message):
    target = tmp_path / "out.md"
    make(target)
    path = tmp_path / "file" / "out.md" if message == "is not a directory" else target
    with pytest.raises(OutputError, match=message):
        write_file(path, "text")


def test_a_failing_staged_directory_leaves_the_old_one(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / WEIGHTS_FILE).write_bytes(b"old weights")
    with (
        pytest.raises(RuntimeError, match="training failed"),
        staged_directory(model, overwrite=True) as staging,
    ):
        (staging / WEIGHTS_FILE).write_bytes(b"new weights")
        raise RuntimeError("training failed")
    assert (model / WEIGHTS_FILE).read_bytes() == b"old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_directory_created_meanwhile_is_not_replaced(tmp_path):
    model = tmp_path / "model"
    with (
        pytest.raises(OutputError, match="is not empty; pass --force"),
        staged_directory(model, overwrite=False) as staging,
    ):
        (staging / WEIGHTS_FILE).write_bytes(b"mine")
        model.mkdir()
        (model / WEIGHTS_FILE).write_bytes(b"the other run's")
    assert (model / WEIGHTS_FILE).read_bytes() == b"the other run's"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def staging_moved_in(source, target):
    return os.path.basename(source) == ".model.partial"


@pytest.mark.parametrize(
    ("call", "failure"),
    [("fsync", {"number": 3}), ("replace", {"when": staging_moved_in})],
    ids=["full disk writing training.json", "swap into place fails"],
)
def test_failed_in_place_resume_keeps_the_old_checkpoint(
    arrests_table, arrests_model, tmp_path, monkeypatch, call, failure
):
    model = tmp_path / "model"
    shutil.copytree(arrests_model.path, model)
    before = {name: sha(model / name) for name in (WEIGHTS_FILE, RECORD_FILE, CONFIG_FILE)}
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), epochs=1, resume=str(model))
    calls = fail_on_call(monkeypatch, call, **failure)
    with pytest.raises(OutputError, match="No space left on device"):
        train(arrests_table, spec, model, progress=False)
    assert calls, "the failure was never injected"
    assert {name: sha(model / name) for name in before} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
