"""The restricted unpickler reads numpy arrays and refuses anything that could run code."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from raikit.models.errors import DataError
from raikit.models.full_mnist import load_numpy_pickle


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_numpy_arrays_in_tuples_round_trip():
    images = np.arange(12, dtype=np.float32).reshape(3, 4)
    labels = np.array([7, 0, 1], dtype=np.int64)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        x, y = load_numpy_pickle(pickle.dumps((images, labels), protocol=protocol))
        np.testing.assert_array_equal(x, images)
        np.testing.assert_array_equal(y, labels)
        assert x.dtype == np.float32 and y.dtype == np.int64


@pytest.mark.parametrize("payload", [_RunsACommand(), pickle.Pickler, {"a": set()}])
def test_any_other_global_is_refused_before_it_runs(payload, capfd):
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_numpy_pickle(pickle.dumps(payload, protocol=2))
    assert "pwned" not in capfd.readouterr().out


def test_garbage_is_a_one_line_data_error():
    with pytest.raises(DataError, match="not a readable numpy pickle"):
        load_numpy_pickle(b"\x80\x02garbage")
