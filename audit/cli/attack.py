"""`rai attack`: membership-inference attacks on a model, side by side with its DP guarantee."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    DataOption,
    ForceOption,
    SeedOption,
    SensitiveOption,
    handle_errors,
    refuse_overwrite,
    write_outputs,
)

ShadowsOption = Annotated[
    int | None,
    typer.Option(
        "--shadows",
        help="Shadow models for the LiRA and RMIA attacks (0: threshold attacks only; default 8 "
        "on CPU, 64 with a GPU).",
    ),
]
MaxSamplesOption = Annotated[
    int, typer.Option(help="At most this many members, and as many non-members, are attacked.")
]


@handle_errors
def attack(
    model: Annotated[Path, typer.Option(help="Model directory (from `rai train`).")],
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Directory for evidence.json and report.html.")],
    shadows: ShadowsOption = None,
    sensitive: SensitiveOption = [],  # noqa: B006
    max_samples: MaxSamplesOption = 5000,
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Membership-inference attacks on a model's own training data, against its DP guarantee."""
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.runner import AuditConfig, recorded_label, run_audit
    from raikit.models.data import load_table

    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    config = MembershipConfig(shadows=shadows, max_samples=max_samples, seed=seed)
    predictor = load_predictor(model)
    table = load_table(data)
    settings = AuditConfig(
        label=recorded_label(predictor) or "",
        sensitive=tuple(sensitive),
        seed=seed,
        title=f"Membership inference on {predictor.path}",
    )
    evidence = run_audit(
        table, settings, predictor, {"membership_inference": config}, progress=True
    )
    result = evidence.result("membership_inference")
    for item in result.attacks:
        rate = item.rates[0]
        typer.echo(
            f"{item.name}: AUC {item.auc.value:.3f}, TPR at FPR {rate.target_fpr:.0%} "
            f"{rate.tpr.value:.3f}, epsilon lower bound {item.epsilon_lower_bound:.2f}"
        )
    claim = (
        f"claimed epsilon {result.dp.epsilon:g}"
        if result.dp.differentially_private
        else "trained without differential privacy"
    )
    typer.echo(
        f"verdict: {result.verdict.replace('_', ' ')} "
        f"(epsilon lower bound {result.epsilon_lower_bound:.2f}; {claim})"
    )
    write_outputs(evidence, out, force)
