"""`rai gate` and `rai model-card`: the evidence checked against a policy, and exported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from raikit.audit.cli._app import ForceOption, handle_errors, refuse_overwrite, say, write_text

if TYPE_CHECKING:
    from raikit.audit.policy import GateResult

EXIT_GATE_FAILED = 1
STATUS_TEXT = {"pass": "pass", "fail": "FAIL", "missing": "n/m"}


def gate_table(result: GateResult) -> str:
    """The gate result as a plain-text table (one line per check, then a verdict line)."""
    header = ("RESULT", "GATE", "SUBJECT", "REQUIRED", "OBSERVED")
    rows = [
        (STATUS_TEXT[c.status], c.gate, c.subject, c.requirement, c.observed) for c in result.checks
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    counts = result.counts()
    verdict = "PASSED" if result.passed else "FAILED"
    lines.append(
        f"{verdict}: policy '{result.policy_name}', {counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['missing']} not measured (n/m)"
    )
    return "\n".join(lines)


def finish_gate(result: GateResult, junit: Path | None, force: bool) -> None:
    """Print the table, write JUnit XML (an existing file only with ``force``), and exit 1
    when a gate failed."""
    from raikit.audit.policy import junit_xml

    typer.echo(gate_table(result))
    if junit is not None:
        write_text(junit, junit_xml(result), force=force)
        say(f"junit: {junit}")
    if not result.passed:
        raise typer.Exit(EXIT_GATE_FAILED)


JunitOption = Annotated[
    Path | None, typer.Option("--junit", help="Write the gate result as JUnit XML for CI.")
]


@handle_errors
def gate(
    evidence: Annotated[Path, typer.Argument(help="evidence.json written by `rai audit`.")],
    policy: Annotated[Path, typer.Option("--policy", help="policy.yaml with the thresholds.")],
    junit: JunitOption = None,
    force: ForceOption = False,
) -> None:
    """Check evidence against a policy: exit 0 pass, 1 a gate failed, 2 bad input."""
    from raikit.audit.evidence import load_evidence
    from raikit.audit.policy import check, load_policy

    if junit is not None:
        refuse_overwrite([junit], force)
    loaded_policy = load_policy(policy)
    finish_gate(check(load_evidence(evidence), loaded_policy), junit, force)


@handle_errors
def model_card(
    evidence: Annotated[Path, typer.Argument(help="evidence.json written by `rai audit`.")],
    out: Annotated[Path, typer.Option(help="Model card file to write.")] = Path("README.md"),
    force: ForceOption = False,
) -> None:
    """Export a Hugging Face style model card (README.md with YAML front matter)."""
    from raikit.audit.evidence import load_evidence
    from raikit.reports import render

    refuse_overwrite([out], force)
    write_text(out, render(load_evidence(evidence), "model-card"), force=force)
    typer.echo(f"model card: {out}")
