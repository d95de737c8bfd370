"""TensorBoard logs of a training run: the per-epoch figures of ``training.json`` as scalars.

Each epoch entry of the record is written once, at step = its epoch number, under the tag
:data:`TAGS` gives its field; a field the entry lacks or holds as ``null`` is skipped, so the
log holds exactly the record's figures. A resumed run appends to the same directory and
opens with a purge at its first epoch: TensorBoard then hides whatever a crashed run logged
past its last checkpoint, and no step appears twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from raikit.models.errors import ConfigError, OutputError
from raikit.models.loop import NORM_QUANTILES

#: Where TensorBoard logs go by default: this folder inside the checkpoint directory.
LOG_DIR = "tensorboard"
#: Epoch-entry field -> TensorBoard tag.
TAGS = {
    "train_loss": "loss/train",
    "mlm_loss": "loss/train",
    "val_loss": "loss/validation",
    "train_accuracy": "accuracy/train",
    "val_accuracy": "accuracy/validation",
    "val_rmse": "rmse/validation",
    "learning_rate": "learning_rate",
    "epsilon": "privacy/epsilon",
    "clipped_fraction": "privacy/clipped_fraction",
    **{f"grad_norm_p{q}": f"privacy/grad_norm_p{q}" for q in NORM_QUANTILES},
}


def log_dir(setting: bool | Path, checkpoint_dir: Path) -> Path | None:
    """The directory a ``tensorboard`` setting names: ``True`` -> inside the checkpoint,
    ``False`` -> none, a path -> that path."""
    if setting is False:
        return None
    return Path(checkpoint_dir) / LOG_DIR if setting is True else Path(setting)


@contextlib.contextmanager
def tensorboard_log(
    directory: Path | None, first_epoch: int
) -> Iterator[Callable[[dict], None] | None]:
    """Open a TensorBoard writer on ``directory``; yield ``write(entry)``, or ``None`` for no log.

    Parameters
    ----------
    directory : Path or None
        Where the event files go (created if missing); ``None`` writes nothing.
    first_epoch : int
        The first epoch this run logs: steps from it on that an earlier writer left are purged.
    """
    if directory is None:
        yield None
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "TensorBoard logs need the tensorboard package (pip install tensorboard); "
            "or train with --no-tensorboard"
        ) from None
    try:
        writer = SummaryWriter(log_dir=str(directory), purge_step=first_epoch)
    except OSError as exc:
        raise OutputError(
            f"cannot write TensorBoard logs to '{directory}': {exc.strerror or exc}"
        ) from None

    def write(entry: dict) -> None:
        for field, tag in TAGS.items():
            if entry.get(field) is not None:
                writer.add_scalar(tag, entry[field], global_step=entry["epoch"])
        writer.flush()  # visible in TensorBoard while training goes on

    try:
        yield write
    finally:
        writer.close()
