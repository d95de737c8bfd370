"""Where the analyzer runs: this process, a pool of processes, or a Dask cluster.

Presidio's recognizers run in the calling process after spaCy, so spaCy's own
``n_process`` would parallelise only a part of the work. raikit parallelises whole
analyzers instead: each process (or Dask worker) builds one engine on first use and keeps
it (see :func:`raikit.audit.pii._recognizers.get_analyzer`), and analyses a share of the distinct
texts; locally, this process analyses one share itself, beside ``n_process - 1`` workers. The
result of each text depends only on the text, so every engine returns the same hits. Local
worker processes are kept for the session's later scans (:func:`close_worker_pools` stops
them sooner).
"""

from __future__ import annotations

import ctypes
import gc
import math
import multiprocessing
import platform
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING

from raikit.audit.pii._recognizers import (
    EngineSpec,
    Hit,
    analyze_texts,
    get_analyzer,
    one_blas_thread,
)
from raikit.models.errors import ConfigError

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

# Below this many distinct texts, starting a worker costs more than it saves: a forked one
# inherits the loaded engine but costs about 30 ms to start (100 generated sentences took
# 0.053 s in one process, 0.064 s with a new worker; 200 took 0.129 s and 0.105 s), a spawned
# one loads spaCy again (seconds).
MIN_TEXTS_PER_POOL = {"fork": 150, "spawn": 1000}
# Each process takes an equal share in one task, so that spaCy's batches stay full (four tasks
# per worker took 7% longer on 500 comments); a longer input is cut into tasks of at most
# this many texts.
MAX_TEXTS_PER_TASK = 2048


# spaCy's NER sorts each ``nlp.pipe`` batch by length and predicts a quarter of it at a time.
# In a worker that keeps the memory it frees (_keep_freed_memory) batches of 512 took 8-10%
# less time than batches of 128 (500 comments, the whole analysis); elsewhere the larger
# batch's arrays go back to the system after each prediction and are faulted in again, and
# they took 7-12% more.
SPACY_BATCH_SIZE_KEEPING_MEMORY = 512
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_keeps_freed_memory = False  # set in each worker by _start_worker


def _keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory this process frees, up to 256 MiB, and take
    blocks below 32 MiB from its heap; False where the C library is not glibc.

    By default glibc maps a block of spaCy's size (a megabyte or more) afresh each time and
    unmaps it when freed, so every batch faults its pages in again (17,000 faults a pass
    over 500 comments). Only raikit's own worker processes call this.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    )


def _start_worker() -> None:
    global _keeps_freed_memory
    _keeps_freed_memory = _keep_freed_memory()
    # The objects inherited from the caller live as long as this worker: its collections skip
    # them (a full one over the 300,000 objects of a process that loaded the engine took
    # 0.15 s) and leave their pages shared with the caller.
    gc.freeze()


def _analyze_chunk(
    spec: EngineSpec, texts: list[str], entities: list[str] | None, threshold: float
) -> list[list[Hit]]:
    return analyze_texts(
        get_analyzer(spec),
        texts,
        entities=entities,
        score_threshold=threshold,
        spacy_batch_size=SPACY_BATCH_SIZE_KEEPING_MEMORY if _keeps_freed_memory else None,
    )


def _chunks(texts: list[str], n_chunks: int) -> list[list[int]]:
    # Interleave by length so each chunk gets a fair share of long free-text values.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i::n_chunks] for i in range(n_chunks) if order[i::n_chunks]]


def run_analysis(
    texts: list[str],
    spec: EngineSpec,
    *,
    entities: list[str] | None,
    score_threshold: float,
    engine: str = "local",
    n_process: int = 1,
    scheduler: str | None = None,
    analyzer: AnalyzerEngine | None = None,
) -> list[list[Hit]]:
    """Analyse distinct ``texts``; one list of ``(entity, start, end, score)`` per text.

    Parameters
    ----------
    texts : list of str
        Distinct values to analyse.
    spec : EngineSpec
        The engine every process builds.
    entities, score_threshold
        Passed to presidio's ``analyze``.
    engine : {"local", "dask"}
        ``local`` runs here (``n_process`` 1) or in a pool of ``n_process`` processes;
        ``dask`` submits chunks to a ``dask.distributed`` cluster.
    n_process : int
        Local processes (this one and ``n_process - 1`` workers), or the workers of the
        LocalCluster started when ``scheduler`` is None.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    analyzer : AnalyzerEngine, optional
        A ready engine for ``local`` runs with one process (skips building one).
    """
    if not texts:
        return []
    if engine == "dask":
        return _run_dask(texts, spec, entities, score_threshold, n_process, scheduler)
    if engine != "local":
        raise ConfigError(f"engine must be 'local' or 'dask'; got '{engine}'")
    forks = "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux"
    start = "fork" if forks else "spawn"
    if n_process <= 1 or len(texts) < MIN_TEXTS_PER_POOL[start]:
        active = analyzer if analyzer is not None else get_analyzer(spec)
        return analyze_texts(active, texts, entities=entities, score_threshold=score_threshold)
    tasks_per_process = math.ceil(len(texts) / (n_process * MAX_TEXTS_PER_TASK))
    parts = _chunks(texts, n_process * tasks_per_process)
    own, shared = parts[:tasks_per_process], parts[tasks_per_process:]
    try:
        # Workers forked in one_blas_thread() start on one BLAS thread, as they run. This
        # process sets its count back after the scan: after a fork, that starts OpenBLAS's
        # threads again, which spin for a tenth of a second of CPU (not beside the workers).
        with one_blas_thread():
            pool = _worker_pool(start, n_process - 1, spec)
            futures = [
                pool.submit(
                    _analyze_chunk, spec, [texts[i] for i in part], entities, score_threshold
                )
                for part in shared
            ]
            active = analyzer if analyzer is not None else get_analyzer(spec)
            found = [
                analyze_texts(
                    active,
                    [texts[i] for i in part],
                    entities=entities,
                    score_threshold=score_threshold,
                )
                for part in own
            ]
            found += [future.result() for future in futures]
    except BaseException:
        close_worker_pools()  # a worker died or the scan was stopped: the next one starts anew
        raise
    out: list[list[Hit]] = [[] for _ in texts]
    for part, hits in zip(parts, found, strict=True):
        for index, text_hits in zip(part, hits, strict=True):
            out[index] = text_hits
    return out


# The worker processes of this session, kept between scans: a later scan finds them started
# and warm (a worker's first texts cost it about twice its later ones).
_POOLS: dict[tuple[str, int, EngineSpec], ProcessPoolExecutor] = {}


def _worker_pool(start: str, n_workers: int, spec: EngineSpec) -> ProcessPoolExecutor:
    """This session's pool of ``n_workers`` workers for ``spec``, started on first use."""
    key = (start, n_workers, spec)
    if key not in _POOLS:
        close_worker_pools()  # one pool at a time
        if start == "fork":
            get_analyzer(spec)  # forked workers inherit this process's loaded engine
        pool = ProcessPoolExecutor(
            n_workers, multiprocessing.get_context(start), initializer=_start_worker
        )
        pool.submit(int)
        _POOLS[key] = pool
    return _POOLS[key]


def close_worker_pools() -> None:
    """Stop the worker processes kept by earlier scans (they also stop when Python exits)."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def _run_dask(
    texts: list[str],
    spec: EngineSpec,
    entities: list[str] | None,
    threshold: float,
    n_workers: int,
    scheduler: str | None,
) -> list[list[Hit]]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--engine dask needs dask[distributed] installed") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=max(1, n_workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at '{scheduler}': {exc}") from None
    try:
        n_chunks = max(1, len(client.scheduler_info()["workers"])) * 4
        chunks = _chunks(texts, n_chunks)
        futures = [
            client.submit(
                _analyze_chunk, spec, [texts[i] for i in c], entities, threshold, pure=False
            )
            for c in chunks
        ]
        out: list[list[Hit]] = [[] for _ in texts]
        for chunk, hits in zip(chunks, client.gather(futures), strict=True):
            for index, found in zip(chunk, hits, strict=True):
                out[index] = [tuple(h) for h in found]
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
