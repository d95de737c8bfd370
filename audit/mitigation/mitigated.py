"""Mitigated models on disk and as :class:`~audit.predictor.Predictor`: no pickles anywhere.

A mitigated-model directory holds ``mitigation.json`` (the method and its fitted state as
plain numbers), ``training.json`` (how it was made), ``split.json`` and, where the method has
networks, ``model.safetensors``. Three kinds are loaded here (the adapter is registered in
:mod:`raikit.audit.predictor`):

* ``threshold_optimizer`` — fairlearn's ``ThresholdOptimizer`` re-implemented from its
  per-group interpolated thresholds; the base model is copied into ``base/`` (``base`` in
  ``mitigation.json`` must stay inside the directory). Needs the sensitive attribute at
  prediction time.
* ``exponentiated_gradient`` — fairlearn's randomised ensemble: member MLPs and their weights.
* ``correlation_remover`` — fairlearn's ``CorrelationRemover`` (sensitive means and the
  least-squares coefficients) before an MLP. Needs the sensitive attribute at prediction time.

Randomised classifiers decide positive when ``P(positive) >= u`` (fairlearn's rule), with ``u``
drawn per row from a hash of the row's model inputs and the saved seed: the same person always
gets the same decision, whatever the row order, and a reload gives identical predictions.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from raikit.audit.groups import Grouping
from raikit.models.checkpoint import Checkpoint, build_to_fit, read_json, tensor_signature
from raikit.models.errors import DataError, ModelError
from raikit.models.files import write_file, write_files

FORMAT = "raikit-mitigated"
# 2: groups are formed by raikit.audit.groups (bands, a missing group) and saved as "grouping".
FORMAT_VERSION = 2
MITIGATION_FILE = "mitigation.json"
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "training.json"
SPLIT_FILE = "split.json"
BASE_DIR = "base"
KINDS = ("threshold_optimizer", "exponentiated_gradient", "correlation_remover")


def group_keys(frame: pd.DataFrame, grouping: Grouping, why: str) -> np.ndarray:
    """One group label per row, formed by the grouping the model was fitted with.

    A single column gives its labels (``"25-34"``), several their intersection
    (``"colour=Black & sex=Male"``). Raises ``DataError`` naming a column the data lacks.
    """
    for column in grouping.names:
        if column not in frame.columns:
            raise DataError(
                f"sensitive column '{column}' is missing from the data, but this model needs it "
                f"at prediction time ({why}); add the column or use a model that does not need it"
            )
    return grouping.joint(frame).row_labels()


def row_uniforms(frame: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per row from a hash of ``frame[columns]`` and ``seed``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the model needs column(s) {missing}, which the data does not have")
    hashed = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy(dtype=np.uint64)
    with np.errstate(over="ignore"):
        # splitmix64 finaliser over (row hash + seed): well-spread bits for every seed.
        z = hashed + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def decide(positive_probability: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """fairlearn's randomised decision rule: positive where ``p >= u``."""
    return (np.asarray(positive_probability) >= np.asarray(uniforms)).astype(np.int64)


def threshold_probability(
    scores: np.ndarray, groups: np.ndarray, thresholds: dict[str, dict]
) -> np.ndarray:
    """P(positive) of fairlearn's ``InterpolatedThresholder`` from its per-group thresholds.

    Each group's entry holds ``p0``, ``operation0`` (``">"`` or ``"<"``), ``threshold0``,
    the same with 1, and for equalized odds ``p_ignore`` and ``prediction_constant``.
    """
    unknown = sorted(set(groups.tolist()) - set(thresholds))
    if unknown:
        raise DataError(
            f"group(s) {unknown[:5]} were not seen when the thresholds were fitted "
            f"(known groups: {sorted(thresholds)})"
        )
    probability = np.zeros(len(scores), dtype=np.float64)
    for group, entry in thresholds.items():
        rows = groups == group
        value = entry["p0"] * _compare(scores[rows], entry["operation0"], entry["threshold0"])
        value = value + entry["p1"] * _compare(
            scores[rows], entry["operation1"], entry["threshold1"]
        )
        if "p_ignore" in entry:
            value = (
                entry["p_ignore"] * entry["prediction_constant"] + (1 - entry["p_ignore"]) * value
            )
        probability[rows] = value
    return probability


def _compare(values: np.ndarray, operator: str, threshold: float) -> np.ndarray:
    return (values > threshold) if operator == ">" else (values < threshold)


def remove_correlation(
    features: np.ndarray, sensitive: np.ndarray, mean: np.ndarray, beta: np.ndarray, alpha: float
) -> np.ndarray:
    """fairlearn ``CorrelationRemover.transform`` from its fitted ``sensitive_mean_``/``beta_``."""
    filtered = features - (sensitive - mean) @ beta
    return alpha * filtered + (1 - alpha) * features


def one_hot(groups: np.ndarray, categories: list[str]) -> np.ndarray:
    """Indicator columns of ``groups`` over ``categories`` (an unseen group raises)."""
    unknown = sorted(set(groups.tolist()) - set(categories))
    if unknown:
        raise DataError(
            f"group(s) {unknown[:5]} were not seen when the model was fitted "
            f"(known groups: {categories})"
        )
    return (groups[:, None] == np.asarray(categories, dtype=object)[None, :]).astype(np.float64)


@dataclass
class MitigatedPredictor:
    """A mitigated model: scores raw rows like any :class:`~audit.predictor.Predictor`.

    ``predict_proba`` returns the decision of a randomised method as a 0/1 probability (what
    the deployed classifier does); :meth:`positive_probability` gives its P(positive).
    """

    path: Path
    checkpoint: Checkpoint
    classes: list[str]
    state: dict[str, Any]
    base: Any = None
    preprocessor: Any = None
    modules: list[Any] | None = None
    kind: str = FORMAT

    @property
    def method(self) -> str:
        return self.state["method"]

    @property
    def randomised(self) -> bool:
        return bool(self.state["randomised"])

    def _groups(self, frame: pd.DataFrame) -> np.ndarray:
        why = self.state["needs_sensitive_because"] or "it was fitted per group"
        return group_keys(frame, Grouping.from_dict(self.state["grouping"]), why)

    def _mlp_probability(self, module: Any, inputs: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = module(torch.from_numpy(inputs.astype(np.float32)))
            return torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)

    def positive_probability(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) of each row (for a randomised method, the chance it decides positive)."""
        method = self.method
        if method == "threshold_optimizer":
            groups = self._groups(frame)
            scores = self.base.predict_proba(frame)[:, 1]
            return threshold_probability(scores, groups, self.state["thresholds"])
        inputs = self.preprocessor.transform(frame).astype(np.float64)
        if method == "correlation_remover":
            cr = self.state["correlation_remover"]
            sensitive = one_hot(self._groups(frame), cr["categories"])
            inputs = remove_correlation(
                inputs, sensitive, np.asarray(cr["mean"]), np.asarray(cr["beta"]), cr["alpha"]
            )
            return self._mlp_probability(self.modules[0], inputs)
        # exponentiated_gradient: the weighted vote of the members' hard decisions.
        probability = np.zeros(len(frame), dtype=np.float64)
        for weight, module in zip(self.state["weights"], self.modules, strict=True):
            probability += weight * (self._mlp_probability(module, inputs) >= 0.5)
        return probability

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        probability = self.positive_probability(frame)
        if self.randomised:
            columns = [c for c in self.state["hash_columns"] if c in frame.columns]
            probability = decide(probability, row_uniforms(frame, columns, self.state["seed"]))
        return np.column_stack([1 - probability, probability]).astype(np.float64)


def save_mitigated(
    out_dir: Path,
    state: dict,
    record: dict,
    split: dict[str, list[int]],
    *,
    modules: list[Any] | None = None,
    base_path: Path | None = None,
) -> Path:
    """Write a mitigated model into ``out_dir`` (which must exist and be empty)."""
    out_dir = Path(out_dir)
    if modules:
        from safetensors.torch import save

        tensors = {
            f"member{index}.{name}": tensor.detach().contiguous().cpu()
            for index, module in enumerate(modules)
            for name, tensor in module.state_dict().items()
        }
        write_file(out_dir / WEIGHTS_FILE, save(tensors, metadata={"format": FORMAT}))
    if base_path is not None:
        base_path = Path(base_path)
        if base_path.is_dir():
            shutil.copytree(base_path, out_dir / BASE_DIR)
            state = {**state, "base": BASE_DIR}
        else:
            (out_dir / BASE_DIR).mkdir()
            shutil.copy2(base_path, out_dir / BASE_DIR / base_path.name)
            state = {**state, "base": f"{BASE_DIR}/{base_path.name}"}
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    files = ((MITIGATION_FILE, state), (RECORD_FILE, record), (SPLIT_FILE, split))
    write_files({out_dir / name: json.dumps(data, indent=2) + "\n" for name, data in files})
    return out_dir


def load_mitigated(path: Path) -> MitigatedPredictor:
    """Load a directory written by :func:`save_mitigated` (``rai mitigate``)."""
    from raikit.audit.predictor import load_predictor
    from raikit.models.preprocess import TabularPreprocessor

    path = Path(path)
    state = read_json(path / MITIGATION_FILE)
    version = state.get("format_version")
    if state.get("format") == FORMAT and isinstance(version, int) and version < FORMAT_VERSION:
        raise ModelError(
            f"'{path}' is a mitigated model of format version {version}, whose groups were raw "
            f"values; this raikit reads version {FORMAT_VERSION} (binned groups): run "
            "`rai mitigate` again"
        )
    if state.get("format") != FORMAT or version != FORMAT_VERSION:
        raise ModelError(
            f"'{path / MITIGATION_FILE}' is not a raikit mitigated model "
            f"(format {state.get('format')!r} version {state.get('format_version')!r})"
        )
    method = state.get("method")
    if method not in KINDS:
        raise ModelError(f"'{path / MITIGATION_FILE}' names unknown method {method!r}")
    record, split = read_json(path / RECORD_FILE), read_json(path / SPLIT_FILE)
    config = {"architecture": state.get("architecture"), **state}
    predictor = MitigatedPredictor(
        path=path,
        checkpoint=Checkpoint(path, config, record, split),
        classes=[str(c) for c in state["classes"]],
        state=state,
    )
    if method == "threshold_optimizer":
        predictor.base = load_predictor(_base_path(path, state.get("base")))
        return predictor
    predictor.preprocessor = TabularPreprocessor.from_dict(state["preprocessor"])
    predictor.modules = _load_members(path, state)
    return predictor


def _base_path(path: Path, base: Any) -> Path:
    """Where a threshold optimizer's base model is: a relative path inside its own directory.

    ``rai mitigate`` copies the base into ``base/``, so the pair moves as one folder. Anything
    else is refused: an absolute path or ``..`` would load (and hash) a model from elsewhere,
    ``.`` the mitigated model itself. Each nested base lies strictly deeper on disk (links
    resolved), so a chain of bases always ends.
    """
    root = path.resolve()
    resolved = (path / base).resolve() if isinstance(base, str) and base else None
    if resolved is None or Path(base).is_absolute() or root not in resolved.parents:
        raise ModelError(
            f"field 'base' of '{path / MITIGATION_FILE}' must be a relative path to a folder or "
            f"file inside '{path}' (as `rai mitigate` writes it: {BASE_DIR!r}); got {base!r}"
        )
    return resolved


def _load_members(path: Path, state: dict) -> list[Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from raikit.models.architectures import build_mlp

    try:
        tensors = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"cannot load weights from '{path / WEIGHTS_FILE}': {exc}") from None
    params = state["arch_params"]
    modules = []
    for index in range(state["n_members"]):
        prefix = f"member{index}."
        member = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        # Sizes come from mitigation.json: checked against the stored tensors before building.
        module = build_to_fit(
            lambda: build_mlp(
                params["input_dim"], params["n_classes"], tuple(params["hidden"]), params["dropout"]
            ),
            {name: tensor_signature(tensor) for name, tensor in member.items()},
            config_file=path / MITIGATION_FILE,
        )
        try:
            module.load_state_dict(member, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"'{path / WEIGHTS_FILE}' member {index}: {exc}") from None
        modules.append(module.eval())
    return modules
