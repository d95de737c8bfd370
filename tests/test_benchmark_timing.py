"""The benchmarks' shared timing: interleaved order, per-round ratios, medians, tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_timing.py"
_SPEC = importlib.util.spec_from_file_location("benchmark_timing", _PATH)
timing = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = timing  # dataclasses look their module up there
_SPEC.loader.exec_module(timing)


def test_callables_run_in_turn_after_the_warm_up():
    calls = []

    def make(name):
        def call():
            calls.append(name)
            return len(calls)

        return call

    runs = timing.interleave({"a": make("a"), "b": make("b")}, repeats=2, warmup=1)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    # The warm-up round (calls 1 and 2) is not recorded.
    assert runs["a"].values == [3, 5] and runs["b"].values == [4, 6]
    assert len(runs["a"].seconds) == 2 and all(s >= 0 for s in runs["b"].seconds)


def test_setup_runs_before_each_call_of_its_side_untimed_after_the_pause(monkeypatch):
    clock, events = [0.0], []
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: events.append(f"sleep {seconds}"))

    def step(name, seconds):
        def call():
            events.append(name)
            clock[0] += seconds

        return call

    runs = timing.interleave(
        {"a": step("a", 1.0), "b": step("b", 2.0)},
        repeats=2,
        warmup=1,
        pause=0.25,
        setup={"a": step("setup a", 5.0)},
    )
    round_ = ["setup a", "sleep 0.25", "a", "sleep 0.25", "b"]
    assert events == ["setup a", "a", "b", *round_, *round_]
    assert runs["a"].seconds == [1.0, 1.0] and runs["b"].seconds == [2.0, 2.0]


def test_speed_up_is_the_median_of_per_round_ratios_not_a_ratio_of_medians():
    baseline, candidate = [2.0, 9.0, 4.0], [1.0, 3.0, 1.0]
    ratios = timing.paired_ratios(baseline, candidate)
    assert ratios == [2.0, 3.0, 4.0]
    assert timing.median(ratios) == 3.0
    # By hand, the ratio of the medians would be 4 / 1 = 4.
    assert timing.median(baseline) / timing.median(candidate) == 4.0


def test_summary_and_table():
    assert timing.summary([3.0, 1.0, 2.5], "{:.1f}", "x") == "2.5x (1.0-3.0)"
    assert timing.markdown_table(["n", "s"], [[1, "2"]]) == "| n | s |\n| --- | ---: |\n| 1 | 2 |"
