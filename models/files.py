"""Atomic writes: every output file or directory appears whole, or not at all.

A file is written to a temporary sibling, flushed to disk and renamed into place; a set of
files (evidence.json with its report) is renamed only once every temporary is written, and
rolled back if a rename fails. A model directory is built in a staging sibling and swapped in
whole. Without ``overwrite`` the final step refuses an existing target (a hard link does not
replace), so two runs into the same output cannot silently overwrite each other.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from raikit.models.errors import OutputError

__all__ = ["refuse_existing", "staged_directory", "write_file", "write_files"]

#: What a model directory written by raikit may hold; ``--force`` replaces nothing else.
MODEL_DIR_ENTRIES = frozenset(
    {
        "model.safetensors",
        "config.json",
        "training.json",
        "split.json",
        "optimizer.safetensors",
        "tokenizer",
        "tensorboard",  # TensorBoard logs of the training (`rai train`, `rai pretrain`)
        "mitigation.json",  # a mitigated model (`rai mitigate`)
        "base",
    }
)


def refuse_existing(paths: list[Path], *, overwrite: bool) -> None:
    """Refuse outputs that exist (unless ``overwrite``), are directories or cannot be made."""
    for path in map(Path, paths):
        if path.is_dir():
            raise OutputError(f"output '{path}' is a directory; give a file name")
        _check_parent(path)
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise OutputError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")


def write_file(path: Path, data: str | bytes, *, overwrite: bool = True) -> None:
    """Write one file atomically (see :func:`write_files`)."""
    write_files({Path(path): data}, overwrite=overwrite)


def write_files(contents: Mapping[Path, str | bytes], *, overwrite: bool = True) -> None:
    """Write every file of ``contents`` or none of them.

    Parameters
    ----------
    contents : mapping of Path to str or bytes
        Each file and its content (text is written as UTF-8).
    overwrite : bool
        Replace files that exist; otherwise an existing file raises ``OutputError``, also
        when it appeared after the caller checked.

    Raises
    ------
    OutputError
        A file exists (without ``overwrite``) or cannot be written; what was there before is
        left as it was, and no temporary file remains.
    """
    paths = [Path(p) for p in contents]
    refuse_existing(paths, overwrite=overwrite)
    staged: list[tuple[Path, Path]] = []
    current = paths[0]
    try:
        for path, data in zip(paths, contents.values(), strict=True):
            current = path
            staged.append((_write_temporary(path, data), path))
        placed: list[tuple[Path, Path | None]] = []
        try:
            for temporary, path in staged:
                current = path
                placed.append((path, _place(temporary, path, overwrite)))
        except BaseException:
            for path, backup in reversed(placed):
                if backup is None:
                    path.unlink(missing_ok=True)
                else:
                    os.replace(backup, path)
            raise
        for _, backup in placed:
            if backup is not None:
                backup.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write '{current}': {exc.strerror or exc}") from None
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_directory(path: Path, *, overwrite: bool, create: bool = True) -> Iterator[Path]:
    """Build a directory in a staging sibling; on success it replaces ``path`` whole.

    Parameters
    ----------
    path : Path
        The directory to write.
    overwrite : bool
        Replace an existing model directory (``--force``, or ``--resume`` in place).
    create : bool
        Whether this process stages and swaps (``False`` on the non-main ranks of distributed
        training, which only read the staging directory that rank 0 creates).

    Yields
    ------
    Path
        The staging directory (``.<name>.partial`` beside ``path``); it is removed if the body
        raises, and renamed into place when it returns.

    Raises
    ------
    OutputError
        ``path`` exists and is not empty (without ``overwrite``), holds files a model
        directory does not, or cannot be written.
    """
    path = Path(path).absolute()
    _check_replaceable(path, overwrite=overwrite)
    staging = path.with_name(f".{path.name}.partial")
    if not create:
        yield staging
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except FileExistsError:
        raise OutputError(
            f"'{staging}' exists: another run is writing '{path}', or one was interrupted "
            "(then remove it)"
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    try:
        yield staging
        _check_replaceable(path, overwrite=overwrite)  # again: it may have appeared meanwhile
        _swap(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_parent(path: Path) -> None:
    """Refuse a path below a file, or below a directory this process cannot write."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write '{path}': '{parent}' is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{path}': directory '{parent}' is not writable")


def _check_replaceable(path: Path, *, overwrite: bool) -> None:
    _check_parent(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output '{path}' exists and is not a directory")
    entries = {entry.name for entry in path.iterdir()} if path.is_dir() else set()
    if entries and not overwrite:
        raise OutputError(f"output directory '{path}' is not empty; pass --force to overwrite")
    foreign = sorted(entries - MODEL_DIR_ENTRIES)
    if foreign:
        raise OutputError(
            f"output directory '{path}' holds files that are not part of a model "
            f"({', '.join(foreign[:3])}); choose another --out"
        )


def _swap(staging: Path, path: Path) -> None:
    """Rename ``staging`` to ``path``; an existing ``path`` is set aside, then removed."""
    previous = path.with_name(f".{path.name}.previous-{uuid.uuid4().hex[:8]}")
    try:
        if path.exists():
            os.replace(path, previous)
        try:
            os.replace(staging, path)
        except OSError:
            if previous.exists():
                os.replace(previous, path)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    shutil.rmtree(previous, ignore_errors=True)


def _write_temporary(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a new sibling of ``path``, flushed to disk, and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(temporary, "xb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _place(temporary: Path, path: Path, overwrite: bool) -> Path | None:
    """Move ``temporary`` to ``path``; return where a replaced file was set aside, if any."""
    if overwrite:
        backup = None
        if path.exists():
            backup = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.previous")
            os.replace(path, backup)
        try:
            os.replace(temporary, path)
        except OSError:
            if backup is not None:
                os.replace(backup, path)
            raise
        return backup
    try:
        os.link(temporary, path)  # refuses an existing path, unlike a rename
    except FileExistsError:
        raise _appeared(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise _appeared(path) from None
        os.replace(temporary, path)
    return None


def _appeared(path: Path) -> OutputError:
    return OutputError(f"{path} already exists (written meanwhile); pass --force to overwrite")
