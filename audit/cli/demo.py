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
    force: ForceOption = False,
) -> None:
    """Train on carData/Arrests, audit it by colour and sex, and write the report.

    The audit runs every check a model allows: performance, group fairness, explanations,
    robustness (counterfactual, perturbation, adversarial) and a membership-inference attack
    with 4 shadow models.
    """
    from raikit.audit.explain import ExplainConfig
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig
    from raikit.audit.robustness import RobustnessConfig
    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.models.data import load_table
    from raikit.models.train import TrainSpec
    from raikit.models.train import train as train_model

    started = time.perf_counter()
    model_dir = out / "model"
    refuse_overwrite([out / "evidence.json", out / "report.html"], force)
    say("demo: police decisions to release arrestees (carData::Arrests, Toronto, 5,226 rows)")
    table = load_table("arrests")
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), seed=0)
    train_model(table, spec, model_dir, force=force)
    config = AuditConfig(
        label="released",
        sensitive=("colour", "sex"),
        seed=0,
        title="Demo audit: release decisions in carData::Arrests",
    )
    say("demo: auditing (fairness, explanations, robustness, membership inference)")
    checks = {
        "performance": None,
        "fairness": None,
        "explanations": ExplainConfig(seed=0),
        "robustness": RobustnessConfig(seed=0),
        "membership_inference": MembershipConfig(shadows=4, seed=0),
    }
    evidence = run_audit(table, config, load_predictor(model_dir), checks, progress=True)
    write_outputs(evidence, out, force)
    say(f"demo finished in {time.perf_counter() - started:.1f} s")
