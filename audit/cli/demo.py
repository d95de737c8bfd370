"""`rai demo`: the whole pipeline on a bundled real dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from raikit.audit.cli._app import ForceOption, handle_errors, refuse_overwrite, say, write_outputs


@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the model, evidence and report.")] = Path(
        "demo-output"
    ),
    impact: Annotated[
        Path | None,
        typer.Option(help="impact.yaml to include (`make demo` passes examples/impact.yaml)."),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="policy.yaml to gate on (`make demo` passes examples/policy.yaml)."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Train on carData/Arrests, audit it by colour and sex, and write the report.

    The audit runs every check a model allows: performance, group fairness, subgroups (slices
    by colour, sex, age, employment and citizenship), explanations, robustness
    (counterfactual, perturbation, adversarial) and a membership-inference attack with 4
    shadow models. A gate that fails is reported, not turned into an exit code: the demo
    shows the gate at work.
    """
    from raikit.audit.explain import ExplainConfig
    from raikit.audit.impact import load_impact
    from raikit.audit.policy import load_policy
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.robustness import RobustnessConfig
    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.audit.slices import SliceConfig
    from raikit.models.data import load_table
    from raikit.models.train import TrainSpec
    from raikit.models.train import train as train_model

    started = time.perf_counter()
    model_dir = out / "model"
    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    impact_assessment = load_impact(impact) if impact is not None else None
    loaded_policy = load_policy(policy) if policy is not None else None
    say("demo: police decisions to release arrestees (carData::Arrests, Toronto, 5,226 rows)")
    table = load_table("arrests")
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), seed=0)
    checkpoint = train_model(table, spec, model_dir, force=force)
    for note in checkpoint.record["notes"]:
        say(note)
    # 83% of arrestees were released: at a 0.5 threshold the model releases almost everyone
    # (a degenerate model, which the audit would flag). It decides at the training base rate.
    train_rows = table.frame.iloc[checkpoint.split["train"]]
    threshold = round(float((train_rows["released"] == "Yes").mean()), 2)
    say(
        "demo: at 0.5 the model releases almost everyone (the warning above); the audit "
        f"decides 'released' when P(released) >= {threshold:g}, the share released in training"
    )
    config = AuditConfig(
        label="released",
        sensitive=("colour", "sex"),
        threshold=threshold,
        seed=0,
        title="Demo audit: release decisions in carData::Arrests",
    )
    say("demo: auditing (fairness, subgroups, explanations, robustness, membership inference)")
    checks = {
        "performance": None,
        "fairness": None,
        "slices": SliceConfig(columns=("age", "employed", "citizen")),
        "explanations": ExplainConfig(seed=0),
        "robustness": RobustnessConfig(seed=0),
        "membership_inference": MembershipConfig(shadows=4, seed=0),
    }
    predictor = load_predictor(model_dir)
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
        failed = sum(c.status == "fail" for c in evidence.gate.checks)
        verdict = "passed" if evidence.gate.passed else f"failed ({failed} check(s))"
        say(f"demo: policy gate {verdict}; see the report's gate section")
    say(f"demo finished in {time.perf_counter() - started:.1f} s")
