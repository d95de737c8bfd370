"""Precision, recall and F1 per entity type: raikit's recognizers vs presidio's defaults.

Ground truth comes from ``raikit.audit.pii.synth`` (seeded Faker text with planted spans). Both
engines use the same spaCy model (or presidio's ``no_op`` engine with ``--no-ner``) and the
same score threshold; only the recognizers differ.

    .venv/bin/python benchmarks/pii_accuracy.py --n 2000 --seed 0
"""

from __future__ import annotations

import argparse
import time

from raikit.audit.pii._recognizers import DEFAULT_MODEL, EngineSpec, analyze_texts, build_analyzer
from raikit.audit.pii.synth import ENTITY_TYPES, generate_labelled_texts, score_spans


def _run(spec: EngineSpec, texts: list[str], threshold: float) -> list[list[tuple[str, int, int]]]:
    analyzer = build_analyzer(spec)
    hits = analyze_texts(
        analyzer,
        texts,
        entities=list(ENTITY_TYPES),
        score_threshold=threshold,
        refine=spec.recognizers == "raikit",
    )
    return [[(t, s, e) for t, s, e, _ in found] for found in hits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="generated sentences")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.35)
    args = parser.parse_args()
    docs = generate_labelled_texts(args.n, seed=args.seed)
    texts = [d.text for d in docs]
    print(f"{args.n} sentences, seed {args.seed}, score threshold {args.threshold}")
    for mode, model in (("spaCy " + DEFAULT_MODEL, DEFAULT_MODEL), ("--no-ner", None)):
        scores = {}
        for recognizers in ("presidio", "raikit"):
            started = time.perf_counter()
            predicted = _run(EngineSpec(model, recognizers), texts, args.threshold)
            scores[recognizers] = score_spans(docs, predicted)
            print(f"  [{mode}] {recognizers}: {time.perf_counter() - started:.1f} s")
        print(f"\n## {mode}\n")
        print("| entity | presidio P | R | F1 | raikit P | R | F1 |")
        print("|---|---|---|---|---|---|---|")
        for entity in ENTITY_TYPES:
            a, b = scores["presidio"][entity], scores["raikit"][entity]
            print(
                f"| {entity} | {a.precision:.3f} | {a.recall:.3f} | {a.f1:.3f} "
                f"| {b.precision:.3f} | {b.recall:.3f} | {b.f1:.3f} |"
            )
        print()


if __name__ == "__main__":
    main()
