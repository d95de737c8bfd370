"""One-off ``rai scan-pii`` runs: wall seconds of a new process, start-up included.

Each round runs the README's two scan commands on the example files (150 applicants; 120
support tickets) in a new Python process, three times: as raikit runs them, with torch
imported before the command starts, and with transformers imported first. presidio imports
transformers' pipelines for its Hugging Face NLP engine, and torch to choose its device;
spaCy's thinc imports torch for its PyTorch layers. raikit imports presidio and spaCy without
them (its engine uses neither), unless the process had already imported them. So the other
sides are what the same command cost while torch, or transformers and torch, were loaded for
them. Every side writes the same findings (checked). Rounds are interleaved; each cell is the
median (min-max), and a ratio the median of the per-round ratios.

    .venv/bin/python benchmarks/pii_startup.py               # 5 rounds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import interleave, markdown_table, paired_ratios, preamble, summary

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "table (examples/applicants.csv)": ["--data", "examples/applicants.csv"],
    "corpus (examples/tickets.jsonl)": [
        "--corpus",
        "examples/tickets.jsonl",
        "--text-field",
        "body",
    ],
}
RUN = "import sys{first}; from raikit.audit.cli import main; sys.argv[0] = 'rai'; sys.exit(main())"


def scan(arguments: list[str], out: Path, first: str) -> dict:
    """Run ``rai scan-pii`` in a new process; return the evidence's PII results."""
    code = RUN.format(first=first)
    command = [sys.executable, "-c", code, "scan-pii", *arguments, "--out", str(out), "--force"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return json.loads((out / "evidence.json").read_text())["results"]["pii"]


# Each side: what the process imports before the command runs.
SIDES = {
    "raikit": "",
    "torch first": "; import torch",
    "transformers first": "; import transformers",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, arguments in COMMANDS.items():
            runs = interleave(
                {
                    side: lambda a=arguments, s=side, f=first: scan(a, Path(tmp) / s, f)
                    for side, first in SIDES.items()
                },
                repeats=args.repeats,
            )
            same = all(run.values[-1] == runs["raikit"].values[-1] for run in runs.values())
            seconds = {side: run.seconds for side, run in runs.items()}
            rows.append(
                [
                    label,
                    *(summary(seconds[side], "{:.1f}", " s") for side in SIDES),
                    *(
                        summary(paired_ratios(seconds["raikit"], seconds[side]), "{:.2f}")
                        for side in ("torch first", "transformers first")
                    ),
                    str(same),
                ]
            )
            print(f"{label} done", file=sys.stderr, flush=True)

    print(preamble())
    print(
        f"Wall seconds of `rai scan-pii` in a new process; median (min-max) of {args.repeats} "
        "interleaved rounds after one warm-up round.\n"
    )
    header = [
        "command",
        "raikit",
        "torch loaded first",
        "transformers loaded first",
        "raikit / torch first",
        "raikit / transformers first",
        "same findings",
    ]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
