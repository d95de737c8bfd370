"""`rai robustness`: counterfactual, perturbation and adversarial tests of one model."""

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


@handle_errors
def robustness(
    model: Annotated[Path, typer.Option(help="Model directory (from `rai train`).")],
    data: DataOption,
    out: OutOption,
    sensitive: SensitiveOption = [],  # noqa: B006
    label: Annotated[
        str | None, typer.Option(help="Label column (default: the built-in dataset's label).")
    ] = None,
    epsilon: Annotated[
        list[float], typer.Option("--epsilon", help="Attack radius to sweep (repeat).")
    ] = [],  # noqa: B006
    attack: Annotated[
        list[str], typer.Option("--attack", help="fgsm, pgd_linf or pgd_l2 (repeat).")
    ] = [],  # noqa: B006
    steps: Annotated[int, typer.Option(help="PGD steps.")] = 10,
    perturbation: Annotated[
        list[str], typer.Option("--perturbation", help="Perturbation to run (repeat).")
    ] = [],  # noqa: B006
    lexicon: Annotated[
        Path | None, typer.Option(help="Identity-term lexicon YAML (default: the shipped one).")
    ] = None,
    rows: Annotated[
        str, typer.Option(help="auto: the test split of the model's own data; all; test.")
    ] = "auto",
    max_attack_rows: Annotated[int, typer.Option(help="Rows attacked (seeded sample).")] = 1000,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for CIs.")] = 1000,
    threshold: Annotated[float, typer.Option(help="Decision threshold on P(positive).")] = 0.5,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Test a model's counterfactual fairness, perturbation and adversarial robustness."""
    from raikit.audit.predictor import load_predictor
    from raikit.audit.robustness import RobustnessConfig
    from raikit.audit.robustness._lexicon import load_lexicon
    from raikit.audit.runner import AuditConfig, recorded_label, run_audit
    from raikit.models.data import load_table

    # Settings first, so a bad radius, name or lexicon fails before any model is loaded.
    config = RobustnessConfig(
        sensitive=tuple(sensitive),
        epsilons=tuple(epsilon) or None,
        attacks=tuple(attack) or RobustnessConfig.model_fields["attacks"].default,
        pgd_steps=steps,
        perturbations=tuple(perturbation) or None,
        lexicon=str(lexicon) if lexicon is not None else None,
        threshold=threshold,
        seed=seed,
        n_bootstrap=n_bootstrap,
        max_attack_rows=max_attack_rows,
        device=device,
    )
    if lexicon is not None:
        load_lexicon(lexicon)
    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    predictor = load_predictor(model)
    table = load_table(data)
    label = label or (table.spec.label if table.spec is not None else None)
    settings = AuditConfig(
        label=label or recorded_label(predictor) or "",
        sensitive=tuple(sensitive),
        rows=rows,
        threshold=threshold,
        seed=seed,
        n_bootstrap=n_bootstrap,
        title=f"Robustness of {predictor.path} on {table.source}",
    )
    say(f"testing robustness on {table.source}")
    evidence = run_audit(table, settings, predictor, {"robustness": config}, progress=True)
    result = evidence.result("robustness")
    rate = result.max_counterfactual_flip_rate()
    if rate is not None:
        typer.echo(f"largest counterfactual flip rate: {rate:.3f}")
    if result.adversarial is not None:
        worst = min(result.adversarial.points, key=lambda p: p.robust_accuracy.value or 0.0)
        typer.echo(
            f"clean accuracy {result.adversarial.clean_accuracy:.3f}; lowest robust accuracy "
            f"{worst.robust_accuracy.value:.3f} ({worst.attack}, epsilon {worst.epsilon:g})"
        )
    write_outputs(evidence, out, force)
