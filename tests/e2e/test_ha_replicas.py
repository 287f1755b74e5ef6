"""Issue 12's "Done when", short of the storm (test_ha_postgres.py): three `alertbridge serve`
replicas on one throwaway PostgreSQL (ALERTBRIDGE_OUTBOX_URL), one Feishu fake bot on loopback.

- a notification posted to each replica, and one posted to all three as Alertmanager HA peers
  do, each reach the bot exactly once;
- notifications queued while the bot is down survive the SIGKILL of two replicas, the lease
  holder among them: the survivor takes the lease over and delivers them all;
- with the database stopped a POST is answered 503 within seconds, never 2xx; once the database
  is back a new notification is accepted and delivered."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import body, delivered_counts, received_names
from tests.support.bots import Bots
from tests.support.launcher import Processes, Service, start_alertbridge, wait_until, write_yaml
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.e2e

TOKEN = "ha-bot"
REPLICAS = 3
DELIVERY_SECONDS = 30.0
# The lease's TTL is 15 s, then the head message's retry backoff (a few seconds after a short
# outage): a minute leaves room on a busy two-core machine.
TAKEOVER_DELIVERY_SECONDS = 60.0
PROMPT_REFUSAL_SECONDS = 10.0  # the pool's connect and wait timeouts are 3 s each
BACK_AGAIN_SECONDS = 30.0
POST_TIMEOUT_SECONDS = 30.0  # longer than any prompt answer: a hang shows as slow, not as an error


def start_replicas(
    processes: Processes, postgres: PostgresServer, bots: Bots, tmp_path: Path
) -> list[Service]:
    """Three replicas sharing the database, every alert routed to the one Feishu bot. Storm
    digests are off so that every notification is its own card, counted by its alertname."""
    bots.fake.add_feishu(TOKEN)
    receiver = {"name": "ops", "platform": "feishu", "webhook_url": bots.feishu_url(TOKEN)}
    config = write_yaml(
        tmp_path / "config.yaml",
        {
            "server": {"timezone": "UTC"},
            "storm": {"enabled": False},
            "receivers": [receiver],
            "routes": [{"receivers": ["ops"]}],
        },
    )
    env = {**os.environ, "ALERTBRIDGE_OUTBOX_URL": postgres.dsn}
    return [
        start_alertbridge(processes, config, tmp_path / f"data{i}", name=f"replica{i}", env=env)
        for i in range(REPLICAS)
    ]


def post(service: Service, name: str) -> httpx.Response:
    return httpx.post(
        service.url + "/alertmanager", content=body(name), timeout=POST_TIMEOUT_SECONDS
    )


def accepted(service: Service, name: str) -> httpx.Response:
    response = post(service, name)
    assert response.status_code == 200, response.text
    return response


def drained(services: list[Service]) -> bool:
    """The shared queue is empty (any live replica reads the same database)."""
    return services[0].status()["receivers"]["ops"]["backlog"] == 0


def test_each_notification_is_delivered_once_whichever_replica_took_it(
    postgres: PostgresServer, processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    replicas = start_replicas(processes, postgres, bots, tmp_path)
    for index, replica in enumerate(replicas):  # a different notification to each replica
        accepted(replica, f"Crash{index}")
    # The HA copies arrive together, as Alertmanager's peers send them: only the enqueue
    # transaction's de-duplication can keep all three from being queued.
    with ThreadPoolExecutor(REPLICAS) as pool:
        copies = list(pool.map(lambda replica: accepted(replica, "Crash99"), replicas))
    assert sorted(answer.json()["duplicate"] for answer in copies) == [False, True, True]

    expected = {f"Crash{n}" for n in (0, 1, 2, 99)}
    wait_until(
        lambda: received_names(bots) >= expected and drained(replicas),
        timeout=DELIVERY_SECONDS,
        what="the four notifications to reach the bot and the queue to drain",
        watch=[r.process for r in replicas],
    )
    assert delivered_counts(bots) == dict.fromkeys(expected, 1)


def holder_pid(services: list[Service]) -> int:
    """The pid of the replica holding ops's lease; its holder name is pod/pid."""
    holder = wait_until(
        lambda: services[0].status()["receivers"]["ops"].get("lease_holder"),
        timeout=DELIVERY_SECONDS,
        what="a replica to hold the lease of ops",
    )
    return int(holder.split("/")[1])


def test_two_replicas_killed_while_the_bot_is_down_lose_nothing(
    postgres: PostgresServer, processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    replicas = start_replicas(processes, postgres, bots, tmp_path)
    bots.fake.fail(TOKEN, "5xx")
    names = [f"Crash{n}" for n in range(30)]
    for index, name in enumerate(names):  # spread over the replicas; 200 means committed
        accepted(replicas[index % REPLICAS], name)
    wait_until(
        lambda: len(bots.fake.attempts) >= 2,
        timeout=DELIVERY_SECONDS,
        what="the lease holder to have tried (and failed) to send",
    )
    # Kill the lease holder and one other: the survivor must take the lease over after its TTL.
    holder = holder_pid(replicas)
    survivor = next(r for r in replicas if r.process.pid != holder)
    for replica in replicas:
        if replica is not survivor:
            replica.process.popen.kill()  # SIGKILL: no shutdown, the lease is left to expire
            replica.process.popen.wait()
    bots.fake.heal(TOKEN)

    killed_at = time.monotonic()
    wait_until(
        lambda: received_names(bots) >= set(names) and drained([survivor]),
        timeout=TAKEOVER_DELIVERY_SECONDS,
        what="the survivor to deliver all 30 notifications",
        watch=[survivor.process],
        details=lambda: f"missing: {sorted(set(names) - received_names(bots))}",
    )
    # A send the holder had in flight when killed may go out again, but only as counted.
    duplicates = sum(delivered_counts(bots).values()) - len(names)
    possible = survivor.metric("alertbridge_ha_possible_duplicates_total")
    print(
        f"\nsurvivor delivered everything {time.monotonic() - killed_at:.1f} s after the kills;"
        f" duplicates {duplicates}, counted as possible {possible:.0f}"
    )
    assert duplicates <= possible


def test_a_stopped_database_is_a_prompt_503_and_its_return_is_accepted(
    postgres: PostgresServer, processes: Processes, bots: Bots, tmp_path: Path
) -> None:
    replicas = start_replicas(processes, postgres, bots, tmp_path)
    postgres.stop()
    for index, replica in enumerate(replicas):
        started = time.monotonic()
        response = post(replica, f"Crash{index}")
        took = time.monotonic() - started
        # 503, not 2xx: Alertmanager retries a 5xx, and nothing was committed to be sent.
        assert response.status_code == 503, response.text
        assert took < PROMPT_REFUSAL_SECONDS, f"{replica.process.name} took {took:.1f} s"
        print(f"\n{replica.process.name} answered 503 in {took:.1f} s", end="")

    postgres.start()
    back = time.monotonic()
    # The pool reconnects by itself: poll until a new notification is accepted (as Alertmanager
    # retries), each answer 200 or 503 meanwhile, never another 2xx.
    answers: list[int] = []

    def accepted_again() -> bool:
        answers.append(post(replicas[0], "Crash9").status_code)
        return answers[-1] == 200

    wait_until(accepted_again, timeout=BACK_AGAIN_SECONDS, what="a POST to be accepted again")
    print(f"\naccepted again {time.monotonic() - back:.1f} s after the database's start")
    assert set(answers) <= {200, 503}
    wait_until(
        lambda: "Crash9" in received_names(bots),
        timeout=DELIVERY_SECONDS,
        what="the notification accepted after the outage to reach the bot",
        watch=[r.process for r in replicas],
    )
