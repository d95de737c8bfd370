"""Precision, recall and F1 per entity type: raikit's recognizers vs presidio's defaults.

Corpora (``benchmarks/pii_corpora.py``; ground truth recorded as values are filled in):

* ``heldout``: hand-written templates and values, never looked at while tuning (the README's);
* ``presidio-evaluator``: Microsoft's presidio-evaluator templates and fake people (MIT), its
  odd-numbered templates; ``presidio-evaluator-tune``: the even-numbered ones, which the
  address blocks, companies, lone first names and date words were tuned on;
* ``dev``: hand-written, the split raikit's recognizers were tuned on;
* ``synth``: ``raikit.audit.pii.synth``, the generator raikit's tests use (circular: its
  templates were written with the recognizers).

Both sides use the same spaCy model and score threshold; only the recognizers differ. A planted
span counts as found when a prediction of its type overlaps it (presidio-evaluator's span
overlap). ``--ablate NAME`` removes one of raikit's recognizers to measure what it adds.

    .venv/bin/python benchmarks/pii_accuracy.py --corpus heldout presidio-evaluator --n 600
"""

from __future__ import annotations

import argparse
import time

import pii_corpora

from raikit.audit.pii._recognizers import (
    DEFAULT_MODEL,
    EngineSpec,
    analyze_texts,
    build_analyzer,
)
from raikit.audit.pii.synth import ENTITY_TYPES, generate_labelled_texts, score_spans

CORPORA = {
    "heldout": lambda n, seed: pii_corpora.handwritten("heldout", n, seed),
    "presidio-evaluator": pii_corpora.presidio_evaluator,
    "presidio-evaluator-tune": lambda n, seed: pii_corpora.presidio_evaluator(n, seed, "tune"),
    "dev": lambda n, seed: pii_corpora.handwritten("dev", n, seed),
    "synth": lambda n, seed: generate_labelled_texts(n, seed=seed),
}


def predict(analyzer, texts: list[str], entities: tuple[str, ...], threshold: float, refine: bool):
    """``(entity_type, start, end)`` per text."""
    hits = analyze_texts(
        analyzer, texts, entities=list(entities), score_threshold=threshold, refine=refine
    )
    return [[(t, s, e) for t, s, e, _ in found] for found in hits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", choices=list(CORPORA), default=["heldout"])
    parser.add_argument("--n", type=int, default=600, help="sentences per corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.35)
    parser.add_argument("--no-ner", action="store_true", help="presidio's no_op NLP engine")
    parser.add_argument("--ablate", nargs="*", default=[], help="raikit recognizers to remove")
    args = parser.parse_args()
    model = None if args.no_ner else DEFAULT_MODEL
    presidio = build_analyzer(EngineSpec(model, "presidio"))
    raikit = build_analyzer(EngineSpec(model, "raikit"))
    for name in args.ablate:
        raikit.registry.remove_recognizer(name)
    print(f"spaCy {model or 'no_op'}, score threshold {args.threshold}, seed {args.seed}")
    if args.ablate:
        print(f"raikit without {', '.join(args.ablate)}")
    for corpus in args.corpus:
        docs = CORPORA[corpus](args.n, args.seed)
        texts = [d.text for d in docs]
        entities = ENTITY_TYPES if corpus == "synth" else pii_corpora.ENTITIES
        scores, seconds = {}, {}
        for side, analyzer in (("presidio", presidio), ("raikit", raikit)):
            started = time.perf_counter()
            found = predict(analyzer, texts, entities, args.threshold, side == "raikit")
            seconds[side] = time.perf_counter() - started
            scores[side] = score_spans(docs, found, entities)
        print(f"\n## {corpus}: {len(docs)} sentences\n")
        print("| entity | planted | presidio P | R | F1 | raikit P | R | F1 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for entity in entities:
            a, b = scores["presidio"][entity], scores["raikit"][entity]
            planted = a.true_positives + a.false_negatives
            if not planted and not a.false_positives + b.false_positives:
                continue
            print(
                f"| {entity} | {planted} | {a.precision:.2f} | {a.recall:.2f} | {a.f1:.2f} "
                f"| {b.precision:.2f} | {b.recall:.2f} | {b.f1:.2f} |"
            )
        print(
            f"\none process: presidio {len(docs) / seconds['presidio']:.0f} sentences/s, "
            f"raikit {len(docs) / seconds['raikit']:.0f} sentences/s"
        )


if __name__ == "__main__":
    main()
