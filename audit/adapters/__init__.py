"""Adapters for models raikit did not train: one module per kind, registered in
:mod:`raikit.audit.predictor`.

* :mod:`.scikit_learn`: a fitted scikit-learn classifier or Pipeline (``predict_proba``);
* :mod:`.torch_module`: a ``torch.nn.Module`` from a float tensor of numeric columns to logits,
  with gradient access (Integrated Gradients, FGSM/PGD);
* :mod:`.hugging_face`: a Hugging Face sequence-classification model directory, or a
  ``transformers`` text-classification pipeline, with gradient access.

A model given in memory has no file: the evidence records it as ``<in-memory ...>`` with a
sha256 of its parameters (:func:`in_memory_info`). Nothing here imports torch, scikit-learn or
transformers at import time; ``detect`` functions look the classes up in ``sys.modules`` (an
object of a library that was never imported cannot exist).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raikit.audit.evidence import ModelInfo

#: The key of an in-memory model's parameter hash in ``ModelInfo.files_sha256``.
IN_MEMORY_STATE = "(in-memory parameters)"


def in_memory_path(library: str, model: Any) -> str:
    """How the evidence names a model given in memory: ``<in-memory sklearn Pipeline>``."""
    return f"<in-memory {library} {type(model).__name__}>"


def qualified_name(model: Any) -> str:
    """``module.Class`` of ``model``."""
    return f"{type(model).__module__}.{type(model).__qualname__}"


def in_memory_info(
    kind: str, path: str, state_sha256: str, architecture: str | None = None
) -> ModelInfo:
    """The evidence's record of a model given in memory: no files, a hash of its parameters."""
    from raikit.audit.evidence import ModelInfo

    return ModelInfo(
        kind=kind,
        path=path,
        files_sha256={IN_MEMORY_STATE: state_sha256},
        architecture=architecture,
    )


def directory_info(kind: str, path: Path, architecture: str | None = None) -> ModelInfo:
    """The evidence's record of a model directory: the sha256 of each of its files."""
    from raikit.audit.evidence import ModelInfo
    from raikit.models.provenance import sha256_file

    files = sorted(p for p in path.iterdir() if p.is_file())
    return ModelInfo(
        kind=kind,
        path=str(path),
        files_sha256={p.name: sha256_file(p) for p in files},
        architecture=architecture,
    )


def tensors_sha256(module: Any) -> str:
    """sha256 over a torch module's ``state_dict``: each name, dtype, shape and raw bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def module_device(module: Any) -> Any:
    """The device of a torch module's first parameter (CPU when it has none)."""
    import torch

    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
