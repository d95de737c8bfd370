"""Differential privacy for training: the options, δ rules, the DP-SGD engine and its record.

The ε formulas live in Opacus' accountants (``opacus.accountants``); this module holds what
raikit decides on top of them: the default δ, the refusal of a δ that protects nobody, how the
noise multiplier follows from a target ε, how the accountant's state travels in a checkpoint
(so that a resumed run continues the same accountant), and when the budget is spent.

Example
-------
>>> spec = PrivacySpec(noise_multiplier=1.1, max_grad_norm=1.0)
>>> resolve_delta(spec.delta, n_train=60_000)
1.6666666666666667e-06
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from pydantic import model_validator
from typing_extensions import Self

from raikit.models.errors import ConfigError
from raikit.models.settings import Fraction, PositiveFloat, PositiveInt, Settings

if TYPE_CHECKING:
    import torch

ACCOUNTANTS = ("rdp", "prv")
#: The per-example clipping engines, as the training record names them.
FAST_ENGINE = "raikit-bookkeeping"
OPACUS_ENGINE = "opacus-hooks"
#: A step may overshoot the target ε by this much (Opacus' own search tolerance).
EPSILON_TOLERANCE = 0.01
MSG_DELTA_TOO_LARGE = (
    "delta {delta:g} is at least 1/n = 1/{n} for the {n} training rows: such a guarantee allows "
    "releasing a whole record; use delta < 1/n (default 1/(10 n) = {default:.3g})"
)


class PrivacySpec(Settings):
    """How to train privately with DP-SGD.

    Parameters
    ----------
    target_epsilon : float, optional
        Total budget ε. With no ``noise_multiplier`` the noise is chosen so that ``epochs``
        epochs spend exactly this budget; with one, training stops when the budget is spent.
    noise_multiplier : float, optional
        σ, the Gaussian noise standard deviation relative to ``max_grad_norm``.
    delta : float, optional
        δ of the (ε, δ) guarantee, in (0, 1); default ``1 / (10 n)`` for ``n`` training rows.
    max_grad_norm : float
        Per-example gradient clipping norm C.
    accountant : {"prv", "rdp"}
        Privacy accountant (Opacus' PRV or RDP).
    max_physical_batch_size : int, optional
        Largest batch put through the model at once; logical batches larger than this are
        split by Opacus' ``BatchMemoryManager`` (the accounting is unchanged).
    """

    target_epsilon: PositiveFloat | None = None
    noise_multiplier: PositiveFloat | None = None
    delta: Fraction | None = None
    max_grad_norm: PositiveFloat = 1.0
    accountant: str = "prv"
    max_physical_batch_size: PositiveInt | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.target_epsilon is None and self.noise_multiplier is None:
            raise ConfigError("DP training needs --target-epsilon or --noise-multiplier")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(
                f"unknown accountant '{self.accountant}'; use one of {', '.join(ACCOUNTANTS)}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The options as plain JSON types."""
        return self.model_dump(mode="json")


def resolve_delta(delta: float | None, n_train: int) -> float:
    """Return δ: the given one, or ``1 / (10 n)``; refuse ``δ >= 1/n``.

    Parameters
    ----------
    delta : float or None
        The δ asked for.
    n_train : int
        Number of training rows (each row is one protected example).

    Raises
    ------
    ConfigError
        When ``delta >= 1 / n_train``.
    """
    default = 1.0 / (10 * n_train)
    if delta is None:
        return default
    if delta >= 1.0 / n_train:
        raise ConfigError(MSG_DELTA_TOO_LARGE.format(delta=delta, n=n_train, default=default))
    return float(delta)


def epsilon_from_history(history: list, delta: float, accountant: str = "prv") -> float:
    """ε of a DP-SGD history ``[(noise_multiplier, sample_rate, steps), ...]`` at ``delta``.

    A pure function of its arguments (the accountant object is rebuilt each time), so the
    record can be checked independently of the training run.
    """
    if not history:
        return 0.0
    acc = _new_accountant(accountant)
    acc.history = [tuple(entry) for entry in history]
    return float(acc.get_epsilon(delta=delta))


def noise_for_target(
    target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float:
    """The smallest σ (to Opacus' tolerance) with ε(σ, q, steps, δ) <= ``target_epsilon``."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            # The search may meet RDP's largest order: its epsilon is then loose, still valid.
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(
                get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant=accountant,
                    epsilon_tolerance=EPSILON_TOLERANCE,
                )
            )
    except ValueError as exc:
        raise ConfigError(f"cannot reach epsilon {target_epsilon}: {exc}") from None


def check_resumable(state: dict, accountant: str, delta: float) -> None:
    """Refuse to continue a recorded run under another accountant or δ.

    One (ε, δ) guarantee, and the ε after each epoch, come from one accountant at one δ; a
    resume that changed either would mix two of them in one record.

    Raises
    ------
    ConfigError
        Naming the recorded and the given value.
    """
    if state["accountant"] != accountant:
        raise ConfigError(
            f"the resumed run was accounted with --accountant {state['accountant']}; this run "
            f"gives {accountant}: resume with --accountant {state['accountant']}"
        )
    if not math.isclose(state["delta"], delta, rel_tol=1e-9):
        raise ConfigError(
            f"the resumed run's guarantee is at --delta {state['delta']:g}; this run gives "
            f"{delta:g}: resume with --delta {state['delta']:g}"
        )


def _new_accountant(name: str) -> Any:
    from opacus.accountants import PRVAccountant, RDPAccountant

    return {"rdp": RDPAccountant, "prv": PRVAccountant}[name]()


def fix_module(module: torch.nn.Module) -> tuple[torch.nn.Module, list[str]]:
    """Make ``module`` trainable by Opacus; return it and what was changed, in words.

    ``ModuleValidator.fix`` replaces BatchNorm with GroupNorm and recurrent layers with their
    DP twins; each replacement is reported so the training record and the user see it.
    """
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(module, strict=False)
    if not errors:
        return module, []
    changes = sorted({f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" for e in errors})
    fixed = ModuleValidator.fix(module)
    remaining = ModuleValidator.validate(fixed, strict=False)
    if remaining:
        raise ConfigError(f"model cannot be trained with DP-SGD: {remaining[0]}")
    return fixed, changes


def choose_engine(module: torch.nn.Module) -> tuple[str, str | None]:
    """The clipping engine for ``module`` and, for Opacus, why the fast one cannot be used.

    raikit's fast engine when it supports every trainable layer (alone or under Opacus'
    ``DPDDP``); Opacus' hooks otherwise (e.g. tied weights).
    """
    from raikit.models.fast_dp import unsupported_reason

    reason = unsupported_reason(module)
    return (OPACUS_ENGINE, reason) if reason else (FAST_ENGINE, None)


class PrivateTraining:
    """The DP-SGD engine of one run: attach, step, spend, save and restore the accountant.

    Parameters
    ----------
    spec : PrivacySpec
        The privacy options.
    n_train : int
        Training rows (each one is protected: the guarantee is example-level).
    batch_size : int
        Expected logical batch size; the Poisson sampling rate is ``batch_size / n_train``.
    epochs : int
        Epochs of this run (used to choose σ from a target ε).
    state : dict, optional
        The ``privacy`` section of a previous record, to resume its accountant (same
        accountant and δ, see :func:`check_resumable`). The new stretch runs at
        ``spec.noise_multiplier`` when given, else at the previous run's last σ, and at this
        run's sampling rate; the history keeps one ``(σ, q, steps)`` entry per stretch.
    """

    def __init__(
        self,
        spec: PrivacySpec,
        n_train: int,
        batch_size: int,
        epochs: int,
        state: dict | None = None,
    ) -> None:
        from opacus import PrivacyEngine

        self.spec = spec
        self.n_train = n_train
        self.delta = resolve_delta(spec.delta, n_train)
        with warnings.catch_warnings():
            # The secure RNG is an explicit, recorded choice (``secure_rng`` in the record).
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            self.engine = PrivacyEngine(accountant=spec.accountant)
        if state is not None:
            check_resumable(state, spec.accountant, self.delta)
            self.engine.accountant.load_state_dict(
                {"history": [tuple(h) for h in state["history"]], "mechanism": spec.accountant}
            )
        steps_per_epoch = max(1, math.ceil(n_train / batch_size))
        self.sample_rate = 1.0 / steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        if spec.noise_multiplier is not None:
            self.noise_multiplier = float(spec.noise_multiplier)
        elif state is not None and state["history"]:
            self.noise_multiplier = float(state["history"][-1][0])  # the run's last σ continues
        else:
            self.noise_multiplier = noise_for_target(
                spec.target_epsilon,
                self.delta,
                self.sample_rate,
                steps_per_epoch * epochs,
                spec.accountant,
            )
        self.module_changes: list[str] = []
        self.engine_name: str | None = None
        self.engine_fallback: str | None = None

    def attach(self, module: Any, optimizer: Any, loader: Any):
        """``make_private`` with Poisson sampling; returns (module, optimizer, loader).

        raikit's fast engine (:mod:`raikit.models.fast_dp`) clips when it supports every
        trainable layer of ``module``; otherwise Opacus' hooks do, and the record says why.
        """
        self.engine_name, self.engine_fallback = choose_engine(module)
        if self.engine_name == FAST_ENGINE:
            from raikit.models import fast_dp

            module, self._optimizer, loader = fast_dp.make_private(
                module,
                optimizer,
                loader,
                noise_multiplier=self.noise_multiplier,
                max_grad_norm=self.spec.max_grad_norm,
                accountant=self.engine.accountant,
            )
            return module, self._optimizer, loader
        module, self._optimizer, loader = self.engine.make_private(
            module=module,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.spec.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode="hooks",
        )
        return module, self._optimizer, loader

    def last_step_norms(self) -> torch.Tensor:
        """Per-sample gradient norms, before clipping, of the last (physical) batch stepped.

        The norm each sample's clipping factor ``min(1, C / norm)`` is computed from: the
        fast engine keeps the norms it clipped by; for Opacus, computed as its
        ``DPOptimizer.clip_and_accumulate`` does, from the per-sample gradients the optimizer
        still holds after ``step()`` (they are cleared by ``zero_grad``).
        """
        import torch

        if self.engine_name == FAST_ENGINE:
            return self._optimizer.last_norms.detach()
        samples = self._optimizer.grad_samples
        if not samples or len(samples[0]) == 0:  # an empty Poisson batch
            return torch.zeros(0)
        per_parameter = [g.reshape(len(g), -1).norm(2, dim=-1) for g in samples]
        return torch.stack(per_parameter, dim=1).norm(2, dim=1).detach()

    @property
    def history(self) -> list:
        """The accountant's ``[(noise_multiplier, sample_rate, steps)]`` history."""
        return [list(h) for h in self.engine.accountant.history]

    def epsilon(self) -> float:
        """ε spent so far at this run's δ."""
        return epsilon_from_history(self.history, self.delta, self.spec.accountant)

    def epsilon_after_another_epoch(self) -> float:
        """ε if one more epoch of ``steps_per_epoch`` steps were taken."""
        history = self.history + [[self.noise_multiplier, self.sample_rate, self.steps_per_epoch]]
        return epsilon_from_history(history, self.delta, self.spec.accountant)

    def budget(self) -> float | None:
        """The ε budget that stops training, if any."""
        return self.spec.target_epsilon

    def budget_spent(self) -> bool:
        """Whether one more epoch would take ε past the budget (beyond Opacus' tolerance)."""
        budget = self.budget()
        if budget is None:
            return False
        return self.epsilon_after_another_epoch() > budget + EPSILON_TOLERANCE

    def budget_message(self, last_epoch: int) -> str:
        """Why training stopped after ``last_epoch``: another epoch would exceed the budget."""
        return (
            f"privacy budget spent: epsilon {self.epsilon():.3f} of {self.budget():g}; another "
            f"epoch would exceed it, so training stopped after epoch {last_epoch}"
        )

    def _shared(self, position: int, current: float) -> float | None:
        """The history's σ (``position`` 0) or q (1) if every stretch has the same, else None."""
        values = {float(h[position]) for h in self.history} or {current}
        return values.pop() if len(values) == 1 else None

    def record(self, epochs_trained: int, stopped_for_budget: bool) -> dict[str, Any]:
        """The ``privacy`` section of ``training.json`` (also the state a resume reads)."""
        steps = sum(int(h[2]) for h in self.history)
        # One σ and one q describe the run only when every stretch shares them (a resume may
        # change either); otherwise they are null and ``history`` holds each stretch's.
        noise_multiplier = self._shared(0, self.noise_multiplier)
        sample_rate, n = self._shared(1, self.sample_rate), self.n_train
        return {
            "differentially_private": True,
            "mechanism": "DP-SGD (Opacus, Poisson sampling, per-example clipping)",
            "accountant": self.spec.accountant,
            "epsilon": round(self.epsilon(), 6),
            "delta": self.delta,
            "delta_rule": "given" if self.spec.delta is not None else "1/(10 n)",
            "target_epsilon": self.spec.target_epsilon,
            "noise_multiplier": noise_multiplier,
            "sample_rate": sample_rate,
            "expected_batch_size": None if sample_rate is None else round(sample_rate * n, 3),
            "steps": steps,
            "epochs": epochs_trained,
            "max_grad_norm": self.spec.max_grad_norm,
            "engine": self.engine_name,
            "engine_fallback_reason": self.engine_fallback,
            "n_train_rows": self.n_train,
            "example_level": True,
            "secure_rng": False,
            "guarantee": (
                "example-level: each training row is one protected unit; rows of the same "
                "person are not grouped"
            ),
            "budget_spent": stopped_for_budget,
            "module_changes": self.module_changes,
            "history": self.history,
        }
