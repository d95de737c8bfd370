"""Shared timing for the benchmarks: warm-up, interleaved repetitions, medians, paired ratios.

Every benchmark compares callables the same way: each is run ``warmup`` times first (imports,
caches, allocator), then ``repeats`` rounds run them in turn (A, B, A, B, ...) so that load
from other jobs on a shared machine hits every side alike. Figures are medians over the
rounds with their min-max spread; a speed ratio is the median of the per-round ratios (A and B
of the same round, run back to back), not a ratio of medians.

Example
-------
>>> runs = interleave({"a": lambda: None, "b": lambda: None}, repeats=3, warmup=0)
>>> len(runs["a"].seconds)
3
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Runs:
    """One callable's repetitions, in run order: wall seconds and what each call returned."""

    name: str
    seconds: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


def interleave(
    callables: dict[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 1,
    pause: float = 0.0,
    setup: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, Runs]:
    """Run each callable ``warmup`` times, then ``repeats`` rounds of all of them in turn.

    Parameters
    ----------
    callables : dict of str to callable
        The compared code paths, by name; each is called without arguments.
    repeats : int
        Rounds measured.
    warmup : int
        Rounds run first and discarded.
    pause : float
        Seconds of sleep before each measured call, so that threads a call leaves running
        (OpenBLAS's spin for a tenth of a second after a fork) do not slow the next one.
    setup : dict of str to callable, optional
        Run, untimed, before each call of the callable of the same name.

    Returns
    -------
    dict of str to Runs
        Per name, the wall seconds of each measured call and its return value.
    """
    setup = setup or {}
    for _ in range(warmup):
        for name, function in callables.items():
            if name in setup:
                setup[name]()
            function()
    runs = {name: Runs(name) for name in callables}
    for _ in range(repeats):
        for name, function in callables.items():
            if name in setup:
                setup[name]()
            time.sleep(pause)
            start = time.perf_counter()
            value = function()
            runs[name].seconds.append(time.perf_counter() - start)
            runs[name].values.append(value)
    return runs


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios ``numerators[i] / denominators[i]`` (same round, run back to back)."""
    if len(numerators) != len(denominators):
        raise ValueError("paired ratios need as many numerators as denominators")
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def summary(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """``median (min-max)`` of ``values``, each number formatted with ``fmt``."""
    low, mid, high = (fmt.format(v) for v in (min(values), median(values), max(values)))
    return f"{mid}{unit} ({low}-{high})"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column is left-aligned, the others right-aligned."""
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def machine() -> str:
    """The machine in one line: CPU, cores usable, load, Python and, when imported, torch."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [cpu, f"{usable} cores usable"]
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f}")
    parts.append(f"Python {sys.version.split()[0]}")
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        if torch.cuda.is_available():
            parts.append(torch.cuda.get_device_name(0))
    return ", ".join(parts)


def preamble(device: str | None = None) -> str:
    """Markdown lines naming the machine (and ``device``) and the command that was run."""
    where = f"{machine()}; {device}" if device else machine()
    command = " ".join(["python", *sys.argv]).rstrip()
    return f"Machine: {where}.\n\nCommand: `{command}`\n"
