"""The benchmark's plumbing (tests/bench/run.py), with a handful of requests: the load generator
against the floor and against a real `alertbridge serve`, the end-to-end latency on both outbox
backends, and the in-process render count. The
figures themselves are the benchmark's business, not this test's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.ingest import Plan, Sequence, drive, spec_for, sweep
from tests.bench.latency import end_to_end
from tests.bench.payloads import alertmanager_payload, kube_eventer_payload
from tests.bench.rendering import render_bench
from tests.bench.report import latency_lines, table
from tests.bench.services import (
    fake_bots,
    serving_alertbridge,
    serving_floor,
    three_receivers_config,
)
from tests.support.paths import ROOT
from tests.support.postgres import missing

TINY = Plan(
    concurrency=(2,),
    rates=(40.0,),
    closed_seconds=0.3,
    open_seconds=0.3,
    warmup_seconds=0.0,
    drain_seconds=2.0,
)


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_load_generator_gets_200s_from_the_floor(tmp_path: Path, mode: str) -> None:
    payload = alertmanager_payload(20)
    with serving_floor(tmp_path) as floor:
        spec = spec_for(floor, payload, 1, mode=mode, seconds=0.3, rate=50.0, max_requests=10)
        run = drive(floor, spec)
    assert run["statuses"] == {"200": 10}
    assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p99"] <= run["latency_ms"]["max"]


def test_alertbridge_sweep_measures_every_level_with_unique_bodies(tmp_path: Path) -> None:
    payload = kube_eventer_payload()
    with fake_bots() as (_, url):
        config = three_receivers_config(tmp_path / "alertbridge.yml", url)
        with serving_alertbridge(tmp_path, config, tmp_path / "data") as service:
            assert service.ready_seconds > 0
            result = sweep(service, payload, TINY, Sequence())
            received = service.metric("alertbridge_notifications_received_total")
            enqueued = service.metric("alertbridge_messages_enqueued_total")
    closed, opened = result["closed"][0], result["open"][0]
    assert closed["ok"] > 0
    assert opened["ok"] > 0
    assert set(closed["statuses"]) == set(opened["statuses"]) == {"200"}
    assert received == closed["ok"] + opened["ok"]
    assert enqueued == 3 * received  # one card per receiver: no body was a repeat
    assert result["peak_rps"] == closed["throughput_rps"]


def test_end_to_end_latency_matches_every_card_to_its_notification(tmp_path: Path) -> None:
    figures = end_to_end(tmp_path, alertmanager_payload(20), rate=20.0, count=8)
    assert (figures["notifications"], figures["refused"]) == (8, 0)
    assert figures["cards_received"] == figures["cards_expected"] == 24
    latency = figures["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"] < 60_000
    assert set(figures["per_platform_ms"]) == {"feishu", "dingtalk", "wecom"}
    lines = latency_lines({"latency": figures})
    assert lines[3].split()[:3] == ["SQLite", "20", "24/24"]


def test_render_counts_messages_per_platform_and_the_table_lines_up() -> None:
    results = render_bench([alertmanager_payload(1)], seconds=0.05)
    assert [r["platform"] for r in results] == ["feishu", "dingtalk", "wecom"]
    assert all(r["renders"] > 0 and r["parts"] == 1 for r in results)
    lines = table("T", ["a", "b"], [["x", "1"], ["yy", "22"]])
    assert lines == ["T", "a    b", "--  --", "x    1", "yy  22", ""]


def test_postgres_figures_measure_ingest_and_a_takeover(tmp_path: Path) -> None:
    from tests.bench.postgres import postgres_figures, unavailable

    reason = unavailable()
    if reason:
        missing(reason)
    payload = alertmanager_payload(20)
    with fake_bots() as (_, url):
        config = three_receivers_config(tmp_path / "alertbridge.yml", url)
        figures = postgres_figures(tmp_path, config, payload, TINY, latency=(20.0, 5))
    sweep_result = figures["ingest"][payload.name]
    assert figures["latency"]["cards_received"] == figures["latency"]["cards_expected"] == 15
    assert figures["latency"]["latency_ms"]["p99"] > 0
    assert sweep_result["closed"][0]["statuses"] == {"200": sweep_result["closed"][0]["ok"]}
    assert sweep_result["peak_rps"] > 0
    # The lease's TTL is 15 s: a takeover sooner would mean two holders at once, much later a
    # replica that never noticed its peer died.
    assert 5.0 < figures["takeover"]["takeover_s"] < 45.0


def test_the_benchmark_imports_nothing_of_pytest() -> None:
    """`pip install -e '.[bench]'` has no pytest: every module run.py loads must do without."""
    code = (
        "import sys; sys.modules['pytest'] = None; "
        "import tests.bench.run, tests.bench.postgres, tests.bench.storm"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
