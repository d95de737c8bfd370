"""torch's thread count: one thread for small models, the user's choice when given."""

import pytest
import torch

from raikit.models import threads
from raikit.models.errors import ConfigError


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv(threads.THREADS_VARIABLE, raising=False)
    yield
    threads.set_threads(None)
    torch.set_num_threads(before)


def test_a_small_model_runs_on_one_thread_a_large_one_on_the_default(monkeypatch):
    monkeypatch.setattr(threads, "_torch_default", 2)
    assert threads.use_threads_for(torch.nn.Linear(10, 2)) == 1
    assert torch.get_num_threads() == 1
    # 1000 x 1000 + 1000 weights: over the limit of 1,000,000.
    assert threads.use_threads_for(torch.nn.Linear(1000, 1000)) == 2
    assert torch.get_num_threads() == 2


def test_the_users_choice_wins_the_option_over_the_variable(monkeypatch):
    monkeypatch.setenv(threads.THREADS_VARIABLE, "2")
    assert threads.use_threads_for(torch.nn.Linear(10, 2)) == 2
    threads.set_threads(1)
    assert threads.use_threads_for(torch.nn.Linear(1000, 1000)) == 1


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_variable_is_one_line(monkeypatch, value):
    monkeypatch.setenv(threads.THREADS_VARIABLE, value)
    with pytest.raises(
        ConfigError, match=f"^RAIKIT_THREADS must be a whole number >= 1; got '{value}'$"
    ):
        threads.use_threads_for(torch.nn.Linear(10, 2))
