"""How many CPU threads torch uses: a deliberate choice, small models on one thread.

torch's intra-op pool has one thread per core. The models raikit trains for tables are small
(an MLP of a few thousand weights), so each operation is tiny: the extra threads only add
synchronisation, and on a busy machine they spin waiting for a core (the demo took minutes on
a loaded 2-core machine with the default pool, seconds with one thread). So a module with fewer
than :data:`SMALL_MODEL_PARAMETERS` weights runs on one thread and a larger one on torch's
default; ``rai --threads N`` (:func:`set_threads`) or ``RAIKIT_THREADS`` sets the count for
every model.
"""

from __future__ import annotations

import os
from typing import Any

from raikit.models.errors import ConfigError

__all__ = ["SMALL_MODEL_PARAMETERS", "THREADS_VARIABLE", "set_threads", "use_threads_for"]

SMALL_MODEL_PARAMETERS = 1_000_000
THREADS_VARIABLE = "RAIKIT_THREADS"
_torch_default: int | None = None
_chosen: int | None = None


def set_threads(threads: int | None) -> None:
    """Run every model on ``threads`` CPU threads from now on (``None``: choose by size)."""
    global _chosen
    _chosen = threads


def use_threads_for(module: Any) -> int:
    """Set torch's intra-op thread count for running ``module`` on the CPU; return it."""
    import torch

    global _torch_default
    if _torch_default is None:
        _torch_default = torch.get_num_threads()
    variable = os.environ.get(THREADS_VARIABLE, "").strip()
    if _chosen is not None:
        threads = _chosen
    elif variable:
        if not variable.isdigit() or int(variable) < 1:
            raise ConfigError(f"{THREADS_VARIABLE} must be a whole number >= 1; got '{variable}'")
        threads = int(variable)
    else:
        size = sum(p.numel() for p in module.parameters())
        threads = 1 if size < SMALL_MODEL_PARAMETERS else _torch_default
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
