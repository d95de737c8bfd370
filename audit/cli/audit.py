"""`rai audit` and `rai report`: the measuring and rendering side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import (
    ForceOption,
    OutOption,
    SeedOption,
    SensitiveOption,
    handle_errors,
    refuse_overwrite,
    write_outputs,
    write_text,
)
from raikit.audit.cli.attack import ShadowsOption
from raikit.audit.cli.gate import JunitOption, finish_gate
from raikit.models.errors import ConfigError

FORMAT_SUFFIXES = {"html": ".html", "md": ".md", "pdf": ".pdf"}


@handle_errors
def audit(
    out: OutOption,
    sensitive: SensitiveOption = [],  # noqa: B006
    model: Annotated[Path | None, typer.Option(help="Model directory (from `rai train`).")] = None,
    data: Annotated[
        str | None, typer.Option(help="Data to audit the model on: file or built-in name.")
    ] = None,
    predictions: Annotated[
        str | None,
        typer.Option(
            help="Audit a predictions file instead of a model: columns y_true, y_pred, "
            "optional y_score, and the sensitive columns."
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label column (y_true with --predictions).")
    ] = None,
    positive_label: Annotated[str | None, typer.Option(help="Positive class.")] = None,
    rows: Annotated[
        str,
        typer.Option(
            help="auto: the test split when the data is the model's training data; all; test."
        ),
    ] = "auto",
    threshold: Annotated[float, typer.Option(help="Decision threshold on P(positive).")] = 0.5,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for CIs.")] = 1000,
    min_group_size: Annotated[int, typer.Option(help="Groups smaller than this are flagged.")] = 30,
    seed: SeedOption = 0,
    impact: Annotated[
        Path | None, typer.Option(help="impact.yaml: the societal-impact assessment to include.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="policy.yaml: run the policy gate (exit 1 if it fails).")
    ] = None,
    junit: JunitOption = None,
    force: ForceOption = False,
    scan_pii: Annotated[
        bool, typer.Option(help="Also scan the data for personal data (see `rai scan-pii`).")
    ] = False,
    membership_attack: Annotated[
        bool,
        typer.Option(help="Also attack the model by membership inference (see `rai attack`)."),
    ] = False,
    shadows: ShadowsOption = None,
    explain: Annotated[
        bool, typer.Option(help="Also explain the model's decisions (see `rai explain`).")
    ] = False,
    explain_rows: Annotated[
        int, typer.Option(help="Rows sampled for --explain (seeded with --seed).")
    ] = 300,
    explain_method: Annotated[
        str, typer.Option(help="auto, integrated-gradients, feature-ablation or kernel-shap.")
    ] = "auto",
    robustness: Annotated[
        bool,
        typer.Option(
            help="Also test counterfactual and adversarial robustness (`rai robustness`)."
        ),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Also compare the model, group by group, with this baseline model (e.g. the "
            "teacher it was distilled from, or the original it was quantised or pruned from)."
        ),
    ] = None,
    representation: Annotated[
        Path | None,
        typer.Option(
            help="Reference shares (YAML) of the sensitive groups in the population the data "
            "should represent: also measure each group's representation against them."
        ),
    ] = None,
    slices: Annotated[
        bool,
        typer.Option(help="Also search the subgroups treated worse than the rest (`rai slices`)."),
    ] = False,
    slice_column: Annotated[
        list[str],
        typer.Option("--slice-column", help="With --slices: another column to slice by (repeat)."),
    ] = [],  # noqa: B006
) -> None:
    """Audit a model (or a predictions file): evidence.json + report.html."""
    from raikit.audit.impact import load_impact
    from raikit.audit.policy import load_policy
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.models.data import load_table

    if (model is None) == (predictions is None):
        raise ConfigError("give either --model (with --data) or --predictions")
    if model is not None and data is None:
        raise ConfigError("--model needs --data (the rows to audit it on)")
    if model is not None and label is None:
        raise ConfigError("--label is required with --model")
    if explain and model is None:
        raise ConfigError("--explain needs --model: a predictions file has nothing to explain")
    if baseline is not None and model is None:
        raise ConfigError("--baseline needs --model: a predictions file has no model to compare")
    if junit is not None and policy is None:
        raise ConfigError("--junit needs --policy (the gate whose result it records)")
    # Read the YAML inputs before the audit runs, so a typo fails in a second, not a minute.
    impact_assessment = load_impact(impact) if impact is not None else None
    loaded_policy = load_policy(policy) if policy is not None else None
    reference = None
    if representation is not None:
        from raikit.audit.representation import RepresentationConfig, load_reference

        reference = RepresentationConfig(reference=load_reference(representation))
    evidence_path, report_path = out / "evidence.json", out / "report.html"
    refuse_overwrite([evidence_path, report_path, *([junit] if junit else [])], force)
    config = AuditConfig(
        label=label or "y_true",
        sensitive=tuple(sensitive),
        positive_label=positive_label,
        rows=rows,
        threshold=threshold,
        seed=seed,
        n_bootstrap=n_bootstrap,
        min_group_size=min_group_size,
    )
    predictor = load_predictor(model) if model is not None else None
    table = load_table(data if model is not None else predictions)
    # The representation check runs first: a reference that does not match the data fails
    # in a second, not after the other checks.
    checks: dict = {"representation": reference} if reference is not None else {}
    checks.update(performance=None, fairness=None)
    if scan_pii:
        checks["pii"] = None
    if membership_attack:
        from raikit.audit.privacy import MembershipConfig

        checks["membership_inference"] = MembershipConfig(shadows=shadows, seed=seed)
    elif shadows is not None:
        raise ConfigError("--shadows needs --membership-attack")
    if explain:
        from raikit.audit.explain import ExplainConfig

        checks["explanations"] = ExplainConfig(
            n_rows=explain_rows, method=explain_method, seed=seed
        )
    if slices:
        from raikit.audit.slices import SliceConfig

        checks["slices"] = SliceConfig(columns=tuple(slice_column), min_slice_size=min_group_size)
    elif slice_column:
        raise ConfigError("--slice-column needs --slices")
    if robustness:
        from raikit.audit.robustness import RobustnessConfig

        checks["robustness"] = RobustnessConfig(seed=seed)
    if baseline is not None:
        from raikit.audit.comparison import ComparisonConfig

        checks["comparison"] = ComparisonConfig(baseline=str(baseline))
    evidence = run_audit(
        table,
        config,
        predictor,
        checks,
        policy=loaded_policy,
        impact=impact_assessment,
        progress=True,
    )
    write_outputs(evidence, out, force)
    if evidence.gate is not None:
        finish_gate(evidence.gate, junit, force)


@handle_errors
def report(
    evidence: Annotated[Path, typer.Argument(help="evidence.json written by `rai audit`.")],
    format: Annotated[
        str, typer.Option("--format", help="html (self-contained), md (Markdown) or pdf.")
    ] = "html",
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: report.html / .md / .pdf).")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Render the report from an evidence file alone, as HTML, Markdown or PDF."""
    from raikit.audit.evidence import load_evidence
    from raikit.reports import render

    if format not in FORMAT_SUFFIXES:
        raise ConfigError(f"--format must be one of html, md, pdf; got '{format}'")
    out = out if out is not None else Path("report" + FORMAT_SUFFIXES[format])
    refuse_overwrite([out], force)
    loaded = load_evidence(evidence)
    write_text(out, render(loaded, format), force=force)
    typer.echo(f"report: {out}")
