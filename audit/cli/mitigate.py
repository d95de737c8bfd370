"""`rai mitigate`: fit a fairer model (or sweep several) and show what it costs."""

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
    say,
    write_outputs,
)
from raikit.models.errors import ConfigError

METHOD_HELP = (
    "threshold_optimizer (post-processing), exponentiated_gradient, grid_search, "
    "fairness_penalty (in-training), reweighing, correlation_remover (pre-processing). "
    "Repeat with --sweep to sweep only these."
)
STRENGTH_HELP = (
    "The method's parameter: eps of exponentiated_gradient (default 0.01), constraint_weight "
    "of grid_search (0.5), penalty weight of fairness_penalty (1), strength of reweighing in "
    "[0, 1] (1), alpha of correlation_remover in [0, 1] (1); threshold_optimizer takes none."
)


@handle_errors
def mitigate(
    model: Annotated[Path, typer.Option(help="Base model directory (from `rai train`).")],
    data: DataOption,
    out: Annotated[
        Path,
        typer.Option(help="Directory for the mitigated model (with --sweep: models + report)."),
    ],
    sensitive: SensitiveOption = [],  # noqa: B006 - typer reads the default, never mutates it
    label: Annotated[str | None, typer.Option(help="Label column (default: the model's).")] = None,
    method: Annotated[list[str], typer.Option(help=METHOD_HELP)] = [],  # noqa: B006
    constraint: Annotated[
        str,
        typer.Option(help="demographic_parity, equalized_odds or true_positive_rate_parity."),
    ] = "demographic_parity",
    strength: Annotated[float | None, typer.Option(help=STRENGTH_HELP)] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Compare several methods and strengths; write a report.")
    ] = False,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs of retrained models (default: the base model's).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Mini-batch size of retrained models (default: the base's).")
    ] = None,
    max_iter: Annotated[int, typer.Option(help="ExponentiatedGradient iterations.")] = 20,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for CIs.")] = 200,
    seed: SeedOption = 0,
    force: ForceOption = False,
) -> None:
    """Mitigate bias: fit a fairer model with fairlearn and measure it against the original."""
    from raikit.audit.mitigation import MitigationConfig, SweepRun
    from raikit.audit.mitigation import mitigate as mitigate_one
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import AuditConfig, recorded_label, run_audit
    from raikit.models.data import load_table

    if not sensitive:
        raise ConfigError("give at least one --sensitive column to mitigate over")
    if not sweep and len(method) != 1:
        raise ConfigError(
            f"give exactly one --method (or --sweep to compare several); got {len(method)}"
        )
    if sweep and strength is not None:
        raise ConfigError("--strength applies to one method; --sweep uses each method's grid")
    config = MitigationConfig(
        method=method[0] if method else "threshold_optimizer",
        constraint=constraint,
        sensitive=tuple(sensitive),
        label=label,
        strength=strength,
        epochs=epochs,
        batch_size=batch_size,
        max_iter=max_iter,
        seed=seed,
        n_bootstrap=n_bootstrap,
    )
    if not sweep:
        table = load_table(data)
        result = mitigate_one(table, model, config, out, force=force, progress=True)
        _print_points(result)
        typer.echo(f"model: {out}")
        return
    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    if method:  # validate the names before anything is loaded or trained
        from raikit.audit.mitigation._methods import get_method

        for name in method:
            get_method(name)
    table = load_table(data)
    predictor = load_predictor(model)
    settings = AuditConfig(
        label=label or recorded_label(predictor) or "",
        sensitive=tuple(sensitive),
        seed=seed,
        n_bootstrap=max(n_bootstrap, 100),
        title=f"Bias mitigation of {model} on {table.source}",
    )
    # On the base model's own training data the audit and the sweep cover the same test rows.
    checks = {
        "performance": None,
        "fairness": None,
        "mitigation": SweepRun(config=config, out_dir=out, methods=tuple(method), force=force),
    }
    evidence = run_audit(table, settings, predictor, checks, progress=True)
    _print_points(evidence.result("mitigation"))
    write_outputs(evidence, out, force)


def _print_points(result) -> None:
    target = result.target_disparity
    say(f"{'model':48s} {'accuracy':>9s} {target:>30s}")
    for point in result.points:
        value = point.disparities[target].value
        shown = "n/a" if value is None else f"{value:.3f}"
        flag = "  (Pareto)" if point.pareto else ""
        say(f"{point.name:48s} {point.accuracy.value:9.3f} {shown:>30s}{flag}")
