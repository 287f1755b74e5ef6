"""The benchmark's outputs: the table printed at the end (and saved beside the JSON), the targets
of issue 17 checked against the results, and the chart of latency against offered rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGET_RATIO = 0.30
TARGET_P99_MS = 50.0
TARGET_P99_RATE = 200.0
TARGET_RSS_MB = 120.0
TARGET_READY_S = 2.0
TARGET_RENDERS_PER_CPU_S = 1000.0
HEADLINE_PAYLOAD = "am-20"


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def row(cells: list[str], widths: list[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs).rstrip()


def table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title, row(header, widths), row(["-" * w for w in widths], widths)]
    return [*lines, *(row(r, widths) for r in rows), ""]


def by_key(runs: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in runs}


def latency_cells(run: dict[str, Any] | None) -> list[str]:
    if run is None:
        return ["", "", "", ""]
    if "skipped" in run:
        return ["skipped", "", "", ""]
    lat = run["latency_ms"]
    rps = fmt(run["throughput_rps"]) + ("*" if run.get("saturated") else "")
    return [rps, fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["max"])]


def ingest_tables(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    ingest = results["ingest"]
    for mode, key in (("closed", "concurrency"), ("open", "rate")):
        rows = []
        for payload, targets in ingest.items():
            ours = by_key(targets["alertbridge"][mode], key)
            floor = by_key(targets["floor"][mode], key)
            for level in sorted(set(ours) | set(floor)):
                a, f = ours.get(level), floor.get(level)
                ratio = None
                if a and f and "skipped" not in a and "skipped" not in f and f["throughput_rps"]:
                    ratio = a["throughput_rps"] / f["throughput_rps"]
                cells = [payload, fmt(level, 0), *latency_cells(a), *latency_cells(f)]
                rows.append([*cells, fmt(ratio, 3) if mode == "closed" else ""])
        header = [
            "payload",
            key,
            "ab req/s",
            "ab p50 ms",
            "ab p99 ms",
            "ab max ms",
            "floor req/s",
            "floor p50",
            "floor p99",
            "floor max",
            "ratio" if mode == "closed" else "",
        ]
        title = f"INGEST, {mode} loop (ab = alertbridge; * = saturated: could not keep up)"
        lines += table(title, header, rows)
    return lines


def render_table(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["payload"],
            r["platform"],
            str(r["parts"]),
            fmt(r["messages_per_s"]),
            fmt(r["messages_per_cpu_s"]),
            fmt(r["renders_per_cpu_s"]),
            fmt(r["ms_per_render_cpu"], 2),
        ]
        for r in results["render"]
    ]
    header = ["payload", "platform", "parts", "msgs/s", "msgs/cpu-s", "renders/cpu-s", "ms/render"]
    return table("RENDER (in process, app.rendering.renderer.Renderer)", header, rows)


def delivery_lines(results: dict[str, Any]) -> list[str]:
    delivery = results.get("delivery", {})
    lines = ["DELIVERY"]
    if cap := delivery.get("capacity"):
        lines.append(
            f"capacity (own rate limiter lifted, 3 fast fake bots): "
            f"{cap['messages_delivered']} messages of {cap['notifications']} notifications; "
            f"{fmt(cap['delivered_per_s_during_ingest'])}/s while ingesting, "
            f"{fmt(cap['delivered_per_s_draining'])}/s draining, "
            f"{fmt(cap['delivered_per_s_overall'])}/s overall"
        )
    storm = delivery.get("storm")
    if storm and "output_tail" in storm:
        verdict = "PASS" if storm["passed"] else "FAIL"
        lines.append(f"storm ({storm['source']}, {fmt(storm['seconds'], 0)} s): {verdict}")
        lines += ["  " + line for line in storm["output_tail"].splitlines() if line.strip()]
    elif storm:
        lines.append(f"storm: skipped ({storm['skipped']})")
    elif delivery.get("storm_skipped"):
        lines.append(f"storm: skipped ({delivery['storm_skipped']})")
    return [*lines, ""]


def resource_lines(results: dict[str, Any]) -> list[str]:
    res = results["resources"]
    ready = results["ready"]
    ours = ready["alertbridge"]
    return [
        "RESOURCES",
        f"ready (spawn to first 200 from /status): alertbridge median "
        f"{fmt(ours['median_s'], 2)} s (max {fmt(ours['max_s'], 2)}), floor median "
        f"{fmt(ready['floor']['median_s'], 2)} s",
        f"RSS idle {fmt(res['rss_mb_idle'])} MB; after {res['notifications']} "
        f"{res['payload']} notifications {fmt(res['rss_mb_after'])} MB (peak "
        f"{fmt(res['rss_mb_peak'])} MB, {fmt(res['rss_mb_after_quiet'])} MB once idle); floor "
        f"idle {fmt(res['floor_rss_mb_idle'])} MB",
        f"meanwhile, as shipped (own rate limiter on): {fmt(res['messages_sent'], 0)} messages "
        f"sent, {fmt(res['digests_sent'], 0)} of them digests; ingest "
        f"{fmt(res['ingest']['throughput_rps'])} req/s, non-200: {res['non_200']}",
        "",
    ]


def open_run(results: dict[str, Any], payload: str, rate: float) -> dict[str, Any] | None:
    runs = results["ingest"].get(payload, {}).get("alertbridge", {}).get("open", [])
    run = by_key(runs, "rate").get(rate)
    return None if run is None or "skipped" in run else run


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's targets for this round, each with the measured value and whether it is met."""
    checks: list[dict[str, Any]] = []
    ratio = results.get("ingest_ratio_vs_floor")
    name = f"ingest 20-alert >= {TARGET_RATIO:.2f} of floor"
    checks.append(target(name, ratio, ratio, TARGET_RATIO, "ge", 3))
    run = open_run(results, HEADLINE_PAYLOAD, TARGET_P99_RATE)
    runs = results["ingest"].get(HEADLINE_PAYLOAD, {}).get("alertbridge", {}).get("open", [])
    skipped = by_key(runs, "rate").get(TARGET_P99_RATE, {}).get("skipped")
    p99 = run["latency_ms"]["p99"] if run else None
    if run is not None and run.get("saturated"):
        p99 = None
    shown = f"{fmt(p99)} ms" if p99 is not None else (skipped or "saturated")
    checks.append(target("ack p99 < 50 ms at 200/s (20-alert)", p99, shown, TARGET_P99_MS, "lt"))
    rss = results["resources"]["rss_mb_after"]
    label = f"RSS < 120 MB after {results['resources']['notifications']} notifications"
    checks.append(target(label, rss, f"{fmt(rss)} MB", TARGET_RSS_MB, "lt"))
    ready = results["ready"]["alertbridge"]["max_s"]
    checks.append(target("ready < 2 s", ready, f"{fmt(ready, 2)} s", TARGET_READY_S, "lt"))
    for r in results["render"]:
        if r["payload"] == HEADLINE_PAYLOAD:
            value = r["renders_per_cpu_s"]
            shown = f"{fmt(value)} renders/cpu-s ({fmt(r['messages_per_cpu_s'])} msgs)"
            name = f"render 20-alert >= {TARGET_RENDERS_PER_CPU_S:,.0f} per CPU-s, {r['platform']}"
            checks.append(target(name, value, shown, TARGET_RENDERS_PER_CPU_S, "ge"))
    return checks


def target(
    name: str, value: float | None, shown: Any, limit: float, sense: str, digits: int = 1
) -> dict[str, Any]:
    met = value is not None and (value >= limit if sense == "ge" else value < limit)
    text = shown if isinstance(shown, str) else fmt(shown, digits)
    return {"target": name, "value": value, "shown": text, "met": met}


def target_lines(checks: list[dict[str, Any]]) -> list[str]:
    rows = [[c["target"], c["shown"], "met" if c["met"] else "MISSED"] for c in checks]
    return table("TARGETS (issue 17)", ["target", "measured", ""], rows)


def postgres_lines(results: dict[str, Any]) -> list[str]:
    """The PostgreSQL backend beside SQLite: same payload, same plan, same floor."""
    pg = results.get("postgres")
    if not pg:
        return []
    if "skipped" in pg:
        return [f"PostgreSQL outbox: skipped ({pg['skipped']})", ""]
    sweep = pg["ingest"][HEADLINE_PAYLOAD]
    run = by_key(sweep.get("open", []), "rate").get(TARGET_P99_RATE, {})
    p99 = run.get("latency_ms", {}).get("p99")
    ack = f"{fmt(p99)} ms" if p99 is not None and not run.get("saturated") else "saturated"
    return [
        f"PostgreSQL outbox (fsync on): {HEADLINE_PAYLOAD} peak {fmt(sweep['peak_rps'])}/s,"
        f" ratio vs floor {fmt(pg.get('ingest_ratio_vs_floor'), 4)}, ack p99 at"
        f" {TARGET_P99_RATE:.0f}/s {ack}; lease takeover after SIGKILL of the holder"
        f" {fmt(pg['takeover']['takeover_s'])} s",
        "",
    ]


def latency_lines(results: dict[str, Any]) -> list[str]:
    """POST to fake bot, per outbox backend (tests/bench/latency.py)."""
    backends = [("SQLite", results.get("latency"))]
    backends.append(("PostgreSQL", results.get("postgres", {}).get("latency")))
    rows = []
    for name, run in backends:
        if not run:
            continue
        lat = run["latency_ms"]
        cards = f"{run['cards_received']}/{run['cards_expected']}"
        rows.append(
            [name, fmt(run["rate"], 0), cards, fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["max"])]
        )
    if not rows:
        return []
    title = (
        "END-TO-END LATENCY, POST to the fake bot receiving the card (20-alert, 3 receivers;"
        " rate limits lifted: fake bots and tests/bench/unthrottled.py, storm control off)"
    )
    header = ["outbox", "notifications/s", "cards", "p50 ms", "p99 ms", "max ms"]
    return table(title, header, rows)


def render_report(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"alertbridge benchmark {results['started']} ({results['mode']} run, "
        f"{fmt(results['duration_s'], 0)} s)",
        f"machine: {env['cpus']} CPUs {env['cpu_model']}, Python {env['python']}, uvicorn "
        f"{env['uvicorn']} ({env['loop']} + {env['http']}), load average at start "
        f"{env['load_average_start']:.2f}, at end {env.get('load_average_end', 0.0):.2f}",
        f"ingest_ratio_vs_floor (20-alert notifications, peak closed-loop throughput): "
        f"{fmt(results.get('ingest_ratio_vs_floor'), 4)}",
        "",
    ]
    lines += ingest_tables(results)
    lines += render_table(results)
    lines += latency_lines(results)
    lines += postgres_lines(results)
    lines += delivery_lines(results)
    lines += resource_lines(results)
    lines += target_lines(results["targets"])
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """Ack latency (p50, p99) against offered rate, one panel per payload, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    payloads = list(results["ingest"])
    width = max(6.0, 4.2 * len(payloads))
    fig, axes = plt.subplots(1, len(payloads), figsize=(width, 4.4), squeeze=False)
    styles = {"alertbridge": "tab:red", "floor": "tab:blue"}
    for axis, payload in zip(axes[0], payloads, strict=True):
        for name, colour in styles.items():
            runs = [r for r in results["ingest"][payload][name]["open"] if "skipped" not in r]
            if not runs:
                continue
            rates = [r["rate"] for r in runs]
            for quantile, style in (("p50", "--"), ("p99", "-")):
                values = [r["latency_ms"][quantile] or float("nan") for r in runs]
                label = f"{name} {quantile}"
                axis.plot(rates, values, style, marker="o", color=colour, label=label)
            for r in runs:
                if r.get("saturated"):
                    axis.plot(r["rate"], r["latency_ms"]["p99"], "x", color="black", markersize=10)
        axis.axhline(TARGET_P99_MS, color="grey", linewidth=0.8, linestyle=":")
        axis.set_yscale("log")
        axis.set_title(payload)
        axis.set_xlabel("offered notifications/s (open loop)")
        axis.set_xticks([r for r in results["plan"]["rates"]])
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("ack latency, ms (x = saturated)")
    axes[0][0].legend(fontsize="small")
    title = f"ack latency vs offered rate: alertbridge vs floor, {results['started']}"
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
