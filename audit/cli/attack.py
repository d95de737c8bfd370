"""`rai attack`: membership-inference attacks and secret exposure, beside the DP guarantee;
`rai plant-canaries`: a copy of a text corpus with random secrets written in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    DataOption,
    ForceOption,
    OutOption,
    SeedOption,
    SensitiveOption,
    handle_errors,
    refuse_overwrite,
    say,
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
CanariesOption = Annotated[
    Path | None,
    typer.Option(
        help="Canary file from `rai plant-canaries`: also measure each secret's exposure."
    ),
]


@handle_errors
def attack(
    model: Annotated[Path, typer.Option(help="Model directory (from `rai train`).")],
    data: DataOption,
    out: OutOption,
    shadows: ShadowsOption = None,
    sensitive: SensitiveOption = [],  # noqa: B006
    max_samples: MaxSamplesOption = 5000,
    seed: SeedOption = 0,
    canaries: CanariesOption = None,
    force: ForceOption = False,
) -> None:
    """Membership-inference attacks on a model's own training data, against its DP guarantee."""
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.runner import AuditConfig, recorded_label, run_audit
    from raikit.models.data import load_table

    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    if canaries is not None:
        from raikit.audit.privacy.exposure import load_canaries

        load_canaries(canaries)  # a bad file fails before any model is trained
    config = MembershipConfig(
        shadows=shadows, max_samples=max_samples, seed=seed, canaries=canaries
    )
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
    if result.exposure is not None:
        exposure = result.exposure
        for secret in exposure.secrets:
            typer.echo(
                f"canary {secret.canary} ({secret.insertions} insertions): exposure "
                f"{secret.exposure:.1f} of {exposure.space_bits:.1f} bits"
            )
        typer.echo(f"largest exposure: {exposure.max_exposure:.1f} bits ({exposure.method})")
    write_outputs(evidence, out, force)


@handle_errors
def plant_canaries(
    data: DataOption,
    text: Annotated[str, typer.Option(help="Text column.")],
    label: Annotated[str, typer.Option(help="Label column.")],
    out: Annotated[Path, typer.Option(help="Directory for corpus.csv and canaries.json.")],
    count: Annotated[int, typer.Option(min=1, help="Secrets to plant.")] = 4,
    insertions: Annotated[int, typer.Option(min=1, help="Copies of each secret.")] = 10,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Format of a secret, each # a random digit (default: 'my number is' and six "
            "digits, spaced so that each digit is a word).",
        ),
    ] = None,
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Write a copy of a text corpus with random secrets in it, and the list of the secrets."""
    from raikit.audit.privacy.exposure import plant_canaries as plant
    from raikit.models.data import load_table
    from raikit.models.errors import ConfigError
    from raikit.models.files import write_files

    targets = [out / "corpus.csv", out / "canaries.json"]
    if any(Path(data).resolve() == target.resolve() for target in targets):
        raise ConfigError(f"--out {out} would write over --data {data}: choose another folder")
    refuse_overwrite(targets, force)
    table = load_table(data)
    given = {"format": format} if format is not None else {}
    planted, canaries = plant(
        table.frame, text, label, n_canaries=count, insertions=insertions, seed=seed, **given
    )
    write_files(
        {
            targets[0]: planted.to_csv(index=False),
            targets[1]: canaries.model_dump_json(indent=2) + "\n",
        },
        overwrite=force,
    )
    say(f"{count} secrets of '{canaries.format}', {insertions} copies each, {len(planted):,} rows")
    typer.echo(f"corpus: {targets[0]}")
    typer.echo(f"canaries: {targets[1]}")
