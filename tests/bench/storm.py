"""Benchmark: an alert storm to one DingTalk robot (issue 3, "Storm control").

5,000 alerts arrive as 500 Alertmanager notifications of 10 alerts each within 60 s (open loop,
from a separate process), all routed to one DingTalk robot that takes 20 messages a minute; the
fake robot answers the 21st with the real 130101 and then blocks for 10 minutes. Checked: no
rate-limit answer at all; every alertname and the exact firing/resolved count of every alertname
in what the robot received (digests count, single cards list); everything delivered within 3
minutes of the first notification; the service's memory (RSS) throughout.

Run: python -m tests.bench.storm [--notifications 500] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from typing import Any

from tests.bench.harness import Bench, MemoryWatch, describe_ms, load, running
from tests.support.bots import Bots

ALERTS_PER_NOTIFICATION = 10
NAMES = [f"StormAlert{n:02d}" for n in range(50)]
SEVERITIES = ("critical", "warning", "info")
DEADLINE_SECONDS = 180.0
TOKEN = "storm-robot"

# What the DingTalk cards print (cards/dingtalk/alert.json.j2 and digest.json.j2): a digest's
# title counts its alerts by status; a group card has one roll-up row per alertname and status.
# A digest names only the worst few alertnames, so alerts are accounted for per status.
DIGEST_TITLE = re.compile(r"Alert storm · (\d+) alerts: (\d+) firing, (\d+) resolved")
CARD_ROW = re.compile(r"\*\*StormAlert\d+\*\* \u00d7(\d+) · \w+ · (firing for|lasted)")
ALL = "*"


def per_status(counts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(alertname, status) counts as (ALL, status): what the robot's messages can tell."""
    totals = Counter[tuple[str, str]]()
    for (_, status), n in counts.items():
        totals[ALL, status] += n
    return totals


def notification(index: int) -> tuple[bytes, Counter[tuple[str, str]]]:
    """The body of notification `index` and its (alertname, status) counts."""
    alerts, counts = [], Counter[tuple[str, str]]()
    for n in range(ALERTS_PER_NOTIFICATION):
        serial = index * ALERTS_PER_NOTIFICATION + n
        name = NAMES[(serial * 7) % len(NAMES)]
        status = "resolved" if serial % 5 == 0 else "firing"
        counts[name, status] += 1
        alerts.append(
            {
                "status": status,
                "labels": {
                    "alertname": name,
                    "severity": SEVERITIES[serial % 3],
                    "namespace": f"ns-{serial % 13}",
                    "pod": f"pod-{serial}",
                },
                "annotations": {"summary": f"{name} on pod-{serial}"},
                "startsAt": "2024-01-01T00:00:00Z",
                "endsAt": "2024-01-01T00:05:00Z" if status == "resolved" else "",
                "fingerprint": f"{serial:016x}",
            }
        )
    body = {
        "version": "4",
        "groupKey": f"{{}}:{{storm={index}}}",
        "status": "firing",
        "receiver": "alertbridge",
        "alerts": alerts,
    }
    return json.dumps(body).encode(), counts


def delivered(bots: Bots) -> tuple[Counter[tuple[str, str]], int, int]:
    """(ALL, status) alert counts in what the robot received, and its digests and cards."""
    counts, digests, cards = Counter[tuple[str, str]](), 0, 0
    for body in bots.fake.messages(TOKEN):
        text = body["markdown"]["text"]
        if title := DIGEST_TITLE.search(text):
            digests += 1
            counts[ALL, "firing"] += int(title.group(2))
            counts[ALL, "resolved"] += int(title.group(3))
        else:
            cards += 1
            for count, how in CARD_ROW.findall(text):
                counts[ALL, "resolved" if how == "lasted" else "firing"] += int(count)
    return counts, digests, cards


def config() -> dict[str, Any]:
    receiver = {
        "name": "ops",
        "platform": "dingtalk",
        "webhook_url": "{bots}/robot/send?access_token=" + TOKEN,
    }
    return {
        "server": {"timezone": "UTC"},
        "receivers": [receiver],
        "routes": [{"receivers": ["ops"]}],
    }


def wait_delivered(bench: Bench, expected: Counter[tuple[str, str]], start: float) -> float | None:
    """Seconds from `start` (wall clock, as the fake records) to the robot's last message, once
    it has every alert and the backlog is empty; None if that takes too long."""
    while time.time() - start < DEADLINE_SECONDS + 30:
        counts, _, _ = delivered(bench.bots)
        backlog = bench.service.status()["receivers"]["ops"]["backlog"]
        if backlog == 0 and counts == expected:
            return max(r.at for r in bench.bots.fake.received) - start
        time.sleep(0.5)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--notifications", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    bodies, expected = [], Counter[tuple[str, str]]()
    for index in range(args.notifications):
        body, counts = notification(index)
        bodies.append(body)
        expected.update(per_status(counts))
    total = sum(expected.values())
    rate = args.notifications / args.seconds
    print(f"{total} alerts in {args.notifications} notifications over {args.seconds:.0f} s")

    with running(config(), lambda bots: bots.fake.add_dingtalk(TOKEN)) as bench:
        with MemoryWatch(bench.service.process).watching() as memory:
            start = time.time()
            latencies, refused_inbound = load(bench.service.url + "/alertmanager", bodies, rate)
            print(f"inbound answers: {describe_ms(latencies)}, non-200: {refused_inbound}")
            done = wait_delivered(bench, expected, start)
        counts, digests, cards = delivered(bench.bots)
        attempts = list(bench.bots.fake.attempts)
        refused = Counter(a.code for a in attempts if a.code != 0)
        coalesced = bench.service.metric("alertbridge_messages_coalesced_total")

    report(expected, counts, done, digests, cards, attempts, refused, coalesced)
    print(f"service memory: {memory.summary()}")


def report(
    expected: Counter[tuple[str, str]],
    counts: Counter[tuple[str, str]],
    done: float | None,
    digests: int,
    cards: int,
    attempts: list[Any],
    refused: Counter[int | None],
    coalesced: float,
) -> None:
    missing = expected - counts
    print(f"robot received {digests + cards} messages: {digests} digests, {cards} single cards")
    print(f"   digests stood for {coalesced:.0f} queued messages")
    print(f"   requests to the robot: {len(attempts)}, refused: {dict(refused) or 'none'}")
    print(f"alerts accounted for: {sum(counts.values())} of {sum(expected.values())}")
    print(f"   per status exact: {counts == expected}")
    delivery = "NOT within the deadline" if done is None else f"{done:.0f} s"
    print(f"everything delivered after {delivery} (deadline {DEADLINE_SECONDS:.0f} s)")
    ok = not refused and not missing and counts == expected and done is not None
    print("PASS" if ok and done is not None and done <= DEADLINE_SECONDS else "FAIL")


if __name__ == "__main__":
    main()
