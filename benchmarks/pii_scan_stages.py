"""Where a PII scan's time goes, stage by stage, on sentences the engine has not seen.

``analyze_texts`` (the analysis under ``scan_table`` and ``scan_corpus``) runs in this process
over ``--docs`` new generated sentences (``raikit.audit.pii.synth``) in each round, after a
warm-up on others, then once more over the same sentences ("seen": spaCy then has their
words' entries and its tokenizer their splits, and RE2's automata their states). Each stage is
timed where the scan calls it, by wrappers put around the engine's own functions:

* spaCy: its tokenizer, and its NER (the rest of ``nlp.pipe``), with the NER's matrix
  products apart (thinc's ``gemm``, on NumPy's OpenBLAS);
* presidio's artifacts made from each spaCy document (tokens, lower-case forms, entities);
* the RE2 pre-check (``audit/pii/_precheck.py``), and each recognizer the scan runs;
* context words (presidio's enhancer), then raikit's false-positive filter;
* the rest: batching, unescaping, sorting, the wrappers themselves.

The NER runs on every text whatever the recognizers find, and the per-cell loop of
``pii_throughput.py`` runs it too: its share bounds how far batching, the pre-check and a
second process can take a scan. Each figure is ms per 1,000 sentences, median (min-max)
over ``--repeats`` rounds, on one BLAS thread as a scan runs.

    .venv/bin/python benchmarks/pii_scan_stages.py                  # 1,000 sentences, 5 rounds
"""

from __future__ import annotations

import argparse
import collections
import functools
import itertools
import time
from collections.abc import Callable, Iterator

from _timing import markdown_table, median, preamble, summary

from raikit.audit.pii import ScanConfig
from raikit.audit.pii import _recognizers as engine_module
from raikit.audit.pii._precheck import Precheck
from raikit.audit.pii.synth import generate_labelled_texts

SPENT: collections.Counter[str] = collections.Counter()
SPACY = "spaCy tokenizer, NER and artifacts"  # process_batch, split up in the table
RECOGNIZER = "recognizer: "  # the stage of each recognizer: this, then its name
MATRIX_PRODUCTS = "NER: of which matrix products"


def timed(stage: str, function: Callable) -> Callable:
    """``function``, adding its wall seconds to ``SPENT[stage]``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[stage] += time.perf_counter() - start

    return wrapper


def timed_generator(stage: str, function: Callable) -> Callable:
    """``function``, a generator function, adding the time of each step to ``SPENT[stage]``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        steps = function(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                SPENT[stage] += time.perf_counter() - start
            yield item

    return wrapper


def instrument(engine) -> None:
    """Wrap the stages of ``engine``'s scan."""
    nlp_engine = engine.nlp_engine
    nlp = nlp_engine.nlp["en"]
    nlp.tokenizer = timed("tokenizer", nlp.tokenizer)
    nlp_engine.process_batch = timed_generator(SPACY, nlp_engine.process_batch)
    nlp_engine._doc_to_nlp_artifact = timed("artifacts", nlp_engine._doc_to_nlp_artifact)
    ops = type(nlp.get_pipe("ner").model.ops)
    ops.gemm = timed(MATRIX_PRODUCTS, ops.gemm)
    Precheck.candidates = timed("pre-check", Precheck.candidates)
    for recognizer in engine.registry.recognizers:
        recognizer.analyze = timed(RECOGNIZER + recognizer.name, recognizer.analyze)
    finder_of = engine_module._pattern_finder

    def timed_finder(recognizer):
        finder = finder_of(recognizer)
        return None if finder is None else timed(RECOGNIZER + recognizer.name, finder)

    engine_module._pattern_finder = timed_finder
    engine_module._plan.cache_clear()  # plans are built again, with the timed finders
    engine_module._with_context = timed("context words", engine_module._with_context)
    engine_module.refine_results = timed("false-positive filter", engine_module.refine_results)


def texts_of(seed: int, docs: int) -> list[str]:
    return [doc.text for doc in generate_labelled_texts(docs, seed=seed)]


def one_pass(engine, texts: list[str]) -> dict[str, float]:
    """Seconds per stage of one ``analyze_texts`` call over ``texts``, and the total."""
    SPENT.clear()
    start = time.perf_counter()
    engine_module.analyze_texts(
        engine, texts, entities=list(engine_module.DEFAULT_ENTITIES), score_threshold=0.35
    )
    spent = dict(SPENT, total=time.perf_counter() - start)
    spent["NER"] = spent[SPACY] - spent["tokenizer"] - spent["artifacts"]
    recognizers = sum(v for k, v in spent.items() if k.startswith(RECOGNIZER))
    spent["recognizers, all"] = recognizers
    inner = ("pre-check", "context words", "false-positive filter")
    spent["rest"] = spent["total"] - spent[SPACY] - recognizers - sum(spent[k] for k in inner)
    return spent


def measure(docs: int, repeats: int, seeds: Iterator[int]) -> tuple[list[list[str]], str]:
    engine = engine_module.get_analyzer(ScanConfig().spec)
    instrument(engine)
    with engine_module.one_blas_thread():
        one_pass(engine, texts_of(next(seeds), docs))  # warm-up: the engine has seen others
        new, seen = [], []
        for seed in itertools.islice(seeds, repeats):
            texts = texts_of(seed, docs)
            new.append(one_pass(engine, texts))
            seen.append(one_pass(engine, texts))
    per_1000 = 1000 / docs * 1000

    def cells(stage: str) -> list[str]:
        return [
            summary([run.get(stage, 0.0) * per_1000 for run in runs], "{:.1f}")
            for runs in (new, seen)
        ]

    recognizers = {stage for run in new for stage in run if stage.startswith(RECOGNIZER)}
    ordered = sorted(recognizers, key=lambda s: -median([run.get(s, 0.0) for run in new]))
    stages = [
        "tokenizer",
        "NER",
        MATRIX_PRODUCTS,
        "artifacts",
        "pre-check",
        "recognizers, all",
        *ordered,
        "context words",
        "false-positive filter",
        "rest",
        "total",
    ]
    rows = [[stage, *cells(stage)] for stage in stages if any(stage in run for run in new)]
    share = median([run["NER"] / run["total"] for run in new])
    note = (
        f"{docs:,} new generated sentences per round, {repeats} rounds; spaCy's NER took "
        f"{share:.0%} of the analysis of new sentences (median of the rounds)"
    )
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, note = measure(args.docs, args.repeats, itertools.count(args.seed * 1_000_000))
    print(preamble())
    print(
        "ms per 1,000 sentences, median (min-max) of the rounds; 'seen': the same sentences "
        "analysed again right after.\n"
    )
    print(markdown_table(["stage", "new sentences", "seen sentences"], rows))
    print(f"\n* {note}")


if __name__ == "__main__":
    main()
