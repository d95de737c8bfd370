"""The membership-inference view: ROC curves on log-scale FPR under the DP bound, in words too.

Same conventions as :mod:`raikit.reports.charts`: matplotlib's object API (no pyplot), fixed SVG
salt and no dates, embedded as a ``data:`` URI in ``<img>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raikit.audit.evidence import Evidence
from raikit.reports.charts import _RC, GRID, INK, Chart, _to_data_uri

if TYPE_CHECKING:
    from raikit.audit.privacy import MembershipInferenceResult

ATTACK_COLOURS = {
    "loss": "#2f5d8a",
    "confidence": "#7a9cc0",
    "lira-online": "#c07a2c",
    "lira-offline": "#8a5a2f",
    "rmia": "#5a8a3c",
}
BOUND_COLOUR = "#8a1c1c"


@dataclass(frozen=True)
class MembershipView:
    """What the membership section shows besides the evidence itself."""

    chart: Chart | None
    meaning: str


def membership_view(evidence: Evidence, charts_on: bool = True) -> MembershipView | None:
    """The ROC chart (when ``charts_on``) and the plain-language paragraph; ``None`` if absent."""
    result = evidence.result("membership_inference")
    if result is None:
        return None
    return MembershipView(chart=roc_chart(result) if charts_on else None, meaning=meaning(result))


def roc_chart(result: MembershipInferenceResult) -> Chart:
    """Every attack's ROC (log-scale FPR), chance, and the (ε, δ)-DP bound when there is one."""
    import numpy as np
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    floor = 0.5 / max(result.n_nonmembers, 1)
    tpr_floor = 0.5 / max(result.n_members, 1)
    with rc_context(_RC):
        figure = Figure(figsize=(6.4, 4.6))
        axes = figure.add_subplot()
        # Log-log, as in Carlini et al.: what matters is the TPR at low FPR. Rates of 0 sit on
        # the floor (half a row), the smallest rate the sample can show.
        axes.set_xscale("log")
        axes.set_yscale("log")
        chance = np.geomspace(min(floor, tpr_floor), 1, 200)
        axes.plot(chance, chance, color="#999999", linestyle=":", label="Chance")
        if result.dp_bound_fpr:
            points = [
                (x, y)
                for x, y in zip(result.dp_bound_fpr, result.dp_bound_tpr, strict=True)
                if x >= floor
            ]
            axes.plot(
                [x for x, _ in points],
                [max(y, tpr_floor) for _, y in points],
                color=BOUND_COLOUR,
                linestyle="--",
                linewidth=1.4,
                label=f"(ε = {result.dp.epsilon:.3g}, δ = {result.dp.delta:.2g})-DP bound",
            )
        for attack in result.attacks:
            axes.step(
                [max(x, floor) for x in attack.roc_fpr],
                [max(y, tpr_floor) for y in attack.roc_tpr],
                where="post",
                color=ATTACK_COLOURS.get(attack.name, INK),
                linewidth=1.2,
                label=f"{attack.title} (AUC {attack.auc.value:.3f})",
            )
        percent = FuncFormatter(lambda value, _: f"{100 * value:g}%")
        axes.xaxis.set_major_formatter(percent)
        axes.yaxis.set_major_formatter(percent)
        axes.set_xlim(floor, 1)
        axes.set_ylim(tpr_floor, 1.05)
        axes.set_xlabel("False positive rate: held-out rows called members (log scale)")
        axes.set_ylabel("True positive rate: training rows found (log scale)")
        axes.grid(color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.legend(loc="lower right", frameon=False, fontsize=8)
        axes.set_title("Membership-inference ROC", fontsize=9, color=INK)
        data_uri = _to_data_uri(figure)
    parts = [
        f"{a.title}: AUC {a.auc.value:.3f}, TPR {a.rates[0].tpr.value:.3f} at FPR 1%"
        for a in result.attacks
        if a.auc.value is not None
    ]
    bound = (
        f" A dashed line marks the most any attack can reach against ε = {result.dp.epsilon:.3g}."
        if result.dp_bound_fpr
        else ""
    )
    alt = (
        "ROC curves of the membership-inference attacks on log-log axes, "
        "with the chance diagonal. " + "; ".join(parts) + "." + bound + " The same figures are "
        "in the table."
    )
    return Chart(data_uri=data_uri, alt=alt)


def meaning(result: MembershipInferenceResult) -> str:
    """A paragraph for readers who are not statisticians: what the attacks mean for people."""
    auc = result.auc if result.auc is not None else 0.5
    strongest = next(a for a in result.attacks if a.name == result.strongest_attack)
    tpr_1 = strongest.rates[0].tpr.value or 0.0
    leak = auc > 0.55 or result.epsilon_lower_bound > 0
    if leak:
        found = (
            f"An attacker who can query the model and holds records like these could tell, "
            f"better than by chance, whether a given person's record was used to train it: the "
            f"strongest attack ({strongest.title}) separates training rows from held-out rows "
            f"with AUC {auc:.2f} (0.5 is guessing, 1 is certainty) and, while wrongly accusing "
            f"only 1 in 100 held-out people, finds {tpr_1:.1%} of the people in the training "
            "data. Where being in the data is itself sensitive (an arrest, a loan refusal, a "
            "diagnosis), this is a disclosure about those people."
        )
    else:
        found = (
            f"The attacks did little better than guessing (strongest AUC {auc:.2f}; 0.5 is "
            "guessing): from this model's outputs, these attacks could not reliably tell whether "
            "a person's record was in the training data. That is evidence, not a guarantee: "
            "stronger attacks, or more shadow models, may do better."
        )
    dp = result.dp
    if not dp.differentially_private:
        claim = (
            "The model was trained without differential privacy, so no formal bound limits what "
            "it reveals about anyone in its training data."
        )
    elif result.verdict == "consistent":
        claim = (
            f"It was trained with differential privacy (ε = {dp.epsilon:.3g}, δ = "
            f"{dp.delta:.2g}), which promises that no attack can do better than the dashed bound "
            f"(AUC at most {dp.max_auc:.2f}); the attacks stay within that promise: "
            + (
                f"they prove only ε ≥ {result.epsilon_lower_bound:.2f}."
                if result.epsilon_lower_bound > 0
                else "they prove no leakage at all."
            )
        )
    else:
        claim = (
            f"It claims differential privacy with ε = {dp.epsilon:.3g}, but the attacks prove ε ≥ "
            f"{result.epsilon_lower_bound:.2f}: the claim does not hold, so either the privacy "
            "accounting is wrong or the training has a bug. Treat the model as not private."
        )
    exposed = [
        g for g in result.per_group if not g.small and g.auc.lower is not None and g.auc.lower > auc
    ]
    groups = ""
    if exposed:
        names = ", ".join(f"{g.attribute}={g.group}" for g in exposed)
        groups = f" People in {names} are more exposed than the rest."
    return f"{claim} {found}{groups}"
