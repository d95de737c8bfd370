"""The privacy section's summary: the claimed ε beside every lower bound measured, and one
sentence a compliance reader can act on.

Every figure and verdict here was judged when it was measured (the one-run audit at training,
the attacks at audit time); this module only puts them side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raikit.audit.evidence import Evidence


@dataclass(frozen=True)
class PrivacySummary:
    """Rows of (figure, value, how it was obtained) and what to do about them."""

    rows: list[tuple[str, str, str]]
    action: str


def privacy_summary(evidence: Evidence) -> PrivacySummary | None:
    """The claimed ε, the one-run bound, the strongest attack's bound and the largest secret
    exposure (each only where the evidence has it); ``None`` when it has none of them."""
    training = evidence.model.training
    dp = evidence.model.dp
    one_run = training.privacy.one_run_audit if training is not None else None
    attack = evidence.result("membership_inference")
    exposure = _largest_exposure(evidence)
    if training is None and attack is None and exposure is None:
        return None
    rows = []
    if dp is not None:
        how = f"{dp.accountant} accountant" + (f", δ {dp.delta:.3g}" if dp.delta else "")
        rows.append(("Claimed ε", _claimed(dp), how))
    elif training is not None:
        rows.append(("Claimed ε", "none", "trained without differential privacy"))
    if one_run is not None:
        rows.append(
            (
                "One-run lower bound",
                f"{one_run.epsilon_lower_bound:.2f}",
                f"{one_run.correct_guesses:,} of {one_run.guesses:,} guesses right on "
                f"{one_run.canaries:,} canaries, {one_run.confidence:.0%} confidence; "
                f"{one_run.verdict.replace('_', ' ')}",
            )
        )
    else:
        rows.append(("One-run lower bound", "not run", "train with --audit-canaries"))
    if attack is not None:
        name = attack.epsilon_lower_bound_attack or attack.strongest_attack
        rows.append(
            (
                "Strongest attack's lower bound",
                f"{attack.epsilon_lower_bound:.2f}",
                f"{name}, {attack.confidence_level:.0%} confidence; "
                f"{attack.verdict.replace('_', ' ')}",
            )
        )
    else:
        rows.append(("Strongest attack's lower bound", "not run", "run rai attack or rai audit"))
    if exposure is not None:
        rows.append(("Largest secret exposure", f"{exposure:.1f} bits", "inserted secrets"))
    return PrivacySummary(rows=rows, action=_action(dp, training, one_run, attack))


def _claimed(dp: Any) -> str:
    return f"{dp.epsilon:.3g}" if dp.epsilon is not None else "not recorded"


def _largest_exposure(evidence: Evidence) -> float | None:
    """The largest exposure of the secrets planted in the training data, if it was measured."""
    attack = evidence.result("membership_inference")
    exposure = getattr(attack, "exposure", None)
    return exposure.max_exposure if exposure is not None else None


def _action(dp: Any, training: Any, one_run: Any, attack: Any) -> str:
    """One sentence: whether the guarantee can be relied on, and what to do if not."""
    refuted = (one_run is not None and one_run.verdict == "inconsistent") or (
        attack is not None and attack.verdict == "inconsistent"
    )
    if refuted:
        return (
            f"Do not rely on the claimed ε = {_claimed(dp)}: an audit proves more leakage than "
            "it allows, so fix the training or its accounting before the model is released."
        )
    if dp is None:
        return (
            "There is no formal privacy guarantee: treat the model as able to reveal its "
            "training data, and retrain it with --dp if it must protect the people in it."
        )
    tested = attack is not None or (one_run is not None and one_run.verdict == "consistent")
    if not tested:
        canaries = (
            "--audit-canaries"
            if one_run is None
            else f"more than {one_run.canaries:,} --audit-canaries (these could show at most "
            f"ε = {one_run.largest_detectable_epsilon:.2f})"
        )
        return (
            f"The claimed ε = {_claimed(dp)} rests on the accountant alone, since no audit "
            f"could test it: retrain with {canaries} or run rai attack before relying on it."
        )
    return (
        f"No audit found more leakage than the claimed ε = {_claimed(dp)} allows, so the "
        "guarantee can be relied on as stated (audits can refute a guarantee, never prove it)."
    )
