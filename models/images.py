"""Image data: ``.npz`` arrays and folders of images per class, as pixel tables.

Images become one row per image with ``pixel_<i>`` columns (channel-major, then rows) and a
``label`` column, the same shape as the built-in ``digits`` and ``mnist-5k`` tables. The
image shape travels with the table (``LoadedTable.frame.attrs["image_shape"]``) and is stored
in the checkpoint config, so a CNN is sized from the data and scored on the same layout.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd

from raikit.models.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def pixel_frame(images: np.ndarray, labels: np.ndarray, label: str = "label") -> pd.DataFrame:
    """A ``(n, C, H, W)`` or ``(n, H, W)`` array and labels as a pixel table."""
    if images.ndim == 3:
        images = images[:, None, :, :]
    if images.ndim != 4:
        raise DataError(f"images must be (n, H, W) or (n, C, H, W); got shape {images.shape}")
    n = images.shape[0]
    if len(labels) != n:
        raise DataError(f"{n} images but {len(labels)} labels")
    flat = images.reshape(n, -1)
    frame = pd.DataFrame(flat, columns=[f"pixel_{i}" for i in range(flat.shape[1])])
    frame[label] = labels
    frame.attrs["image_shape"] = list(images.shape[1:])
    return frame


def read_npz(path: Path) -> pd.DataFrame:
    """Arrays ``x`` (images) and ``y`` (labels) of an ``.npz`` file; pickles are refused."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = set(arrays.files)
            if not {"x", "y"} <= names:
                raise DataError(f"{path} must hold arrays 'x' and 'y'; found {sorted(names)}")
            return pixel_frame(arrays["x"], arrays["y"])
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def read_image_folder(path: Path) -> pd.DataFrame:
    """``path/<class>/<image>``: one sub-folder per class, all images the same size."""
    from PIL import Image

    classes = sorted(p for p in Path(path).iterdir() if p.is_dir())
    images, labels = [], []
    for folder in classes:
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(file) as image:
                array = np.asarray(image.convert("L" if image.mode in ("1", "L", "P") else "RGB"))
            images.append(array if array.ndim == 2 else array.transpose(2, 0, 1))
            labels.append(folder.name)
    if not images:
        raise DataError(f"no images found under {path}/<class>/ ({', '.join(IMAGE_SUFFIXES)})")
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise DataError(f"images under {path} differ in size: {sorted(shapes)[:3]}; resize them")
    stacked = np.stack(images)
    return pixel_frame(stacked if stacked.ndim == 4 else stacked, np.array(labels))


def is_image_source(path: Path) -> bool:
    """Whether ``path`` is an ``.npz`` file or a folder of class folders of images."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".npz"
    if not path.is_dir():
        return False
    return any(
        f.suffix.lower() in IMAGE_SUFFIXES
        for d in path.iterdir()
        if d.is_dir()
        for f in d.iterdir()
    )


def load_image_table(path: Path):
    """An image source as a :class:`raikit.models.data.LoadedTable` (label column ``label``)."""
    from raikit.models.data import LoadedTable, frame_sha256

    path = Path(path)
    frame = read_npz(path) if path.is_file() else read_image_folder(path)
    if path.is_file():
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        sha256 = frame_sha256(frame)
    return LoadedTable(frame=frame, source=str(path), sha256=sha256, spec=None)


def load_table_or_images(source: str):
    """``source`` as a :class:`raikit.models.data.LoadedTable`: an image source
    (:func:`is_image_source`) or anything :func:`raikit.models.data.load_table` reads."""
    from raikit.models.data import load_table

    return load_image_table(Path(source)) if is_image_source(Path(source)) else load_table(source)


def infer_image_shape(frame: pd.DataFrame, n_pixels: int) -> list[int]:
    """``[C, H, W]``: from ``frame.attrs``, else a square single-channel image."""
    shape = frame.attrs.get("image_shape")
    if shape:
        return [int(s) for s in shape]
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise DataError(
            f"{n_pixels} pixel columns are not a square image; give images as .npz (n, H, W) "
            "or a folder of images"
        )
    return [1, side, side]
