"""Session-wide fixtures: small trained models are built once and shared."""

from __future__ import annotations

import pytest

from raikit.models.data import load_table
from raikit.models.train import TrainSpec, train


@pytest.fixture(scope="session")
def arrests_table():
    return load_table("arrests")


@pytest.fixture(scope="session")
def arrests_model(arrests_table, tmp_path_factory):
    """An MLP trained on carData::Arrests for a few epochs."""
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), epochs=4, seed=0)
    return train(arrests_table, spec, tmp_path_factory.mktemp("arrests") / "model", progress=False)


@pytest.fixture(scope="session")
def arrests_other_model(arrests_table, tmp_path_factory):
    """Another MLP on the same data (one epoch, another seed): a second model to compare."""
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), epochs=1, seed=3)
    return train(
        arrests_table, spec, tmp_path_factory.mktemp("arrests-other") / "model", progress=False
    )


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models and batches: a second intra-op thread only adds synchronisation (10x slower
    on a busy 2-core machine). Modules that build torch models themselves opt in."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
