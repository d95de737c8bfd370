"""One-off ``rai scan-pii`` runs: wall seconds of a new process, start-up included.

Each round runs the README's two scan commands on the example files (150 applicants; 120
support tickets) in a new Python process, twice: as raikit runs them, and with transformers
imported before the command starts. presidio imports transformers' pipelines for its Hugging
Face NLP engine whenever transformers is not already missing; raikit imports presidio without
them (it never builds that engine), unless the process had already imported transformers. So
the second side is what the same command cost while presidio loaded them. Both sides write the
same findings (checked). Rounds are interleaved; each cell is the median (min-max).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, arguments in COMMANDS.items():
            runs = interleave(
                {
                    "raikit": lambda a=arguments: scan(a, Path(tmp) / "a", ""),
                    "with transformers": lambda a=arguments: scan(
                        a, Path(tmp) / "b", "; import transformers"
                    ),
                },
                repeats=args.repeats,
            )
            same = runs["raikit"].values[-1] == runs["with transformers"].values[-1]
            rows.append(
                [
                    label,
                    summary(runs["raikit"].seconds, "{:.1f}", " s"),
                    summary(runs["with transformers"].seconds, "{:.1f}", " s"),
                    summary(
                        paired_ratios(runs["raikit"].seconds, runs["with transformers"].seconds),
                        "{:.2f}",
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
    header = ["command", "raikit", "transformers loaded first", "ratio", "same findings"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
