"""A fenced lease per receiver and the send ledger (ha-postgres.md §4.4).

One row of ab_leases per receiver: `holder` (hostname/pid/random, so a restarted pod is a new
holder), `epoch` (the fence: +1 on every takeover) and `expires_at` from the database's clock,
so skew between pods does not matter. The holder renews it every RENEW_SECONDS; the others try
to take it over as often, and succeed only once it has expired: about TTL_SECONDS after the
holder's death.

Every send is first recorded in ab_sends, in a transaction that checks the fence (holder and
epoch unchanged, and the lease valid for at least the send's timeout, so that no successor can
start before this send is over) and the platform's windows over the ledger's rows, which hold
every replica's sends: the ledger is the global rate limit. A frozen holder that resumes after
losing its lease finds the fence changed and sends nothing. A new holder that finds a send of an
earlier epoch with no outcome whose messages are still queued counts it as a possible duplicate
(the old holder may have sent it before dying; it goes out again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

log = logging.getLogger("alertbridge.lease")

TTL_SECONDS = 15.0
RENEW_SECONDS = 2.0
# Abort a send if more than this passed (monotonic) between recording it and sending it: the
# process was frozen meanwhile, and the lease may be someone else's now.
FREEZE_GUARD_SECONDS = 1.0
LEDGER_KEEP_SECONDS = 3600.0


def holder_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


HOLDER = holder_name()


class Database(Protocol):
    """What a lease needs of app/outbox/postgres.py's PostgresOutbox."""

    leases: list[PgLease]

    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class PgLease:
    def __init__(
        self,
        outbox: Database,
        name: str,
        limits: Sequence[tuple[int, float]],
        *,
        ttl_margin: float,
        ttl: float = TTL_SECONDS,
        renew_every: float = RENEW_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.name = name
        self.limits = list(limits)  # (count, window seconds), margins included
        self.holder = HOLDER
        self.ttl = ttl
        self.renew_every = renew_every
        # A send must be over before the lease can expire: the fence asks for this much left.
        self.margin = min(ttl_margin, ttl - 2 * renew_every)
        self.epoch = 0
        self.renewed_at = 0.0  # monotonic
        self.acquired = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sending = False
        self.send_epoch = 0  # the epoch of the send recorded last
        self.on_change: Callable[[], None] = lambda: None
        self.on_possible_duplicates: Callable[[int], None] = lambda n: None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"lease-{self.name}")

    async def close(self) -> None:
        if self in self.outbox.leases:
            self.outbox.leases.remove(self)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        if self.acquired.is_set():  # let a successor take over at once
            self.acquired.clear()
            try:
                await self.outbox.execute(
                    "UPDATE ab_leases SET expires_at = '-infinity' WHERE receiver = %s"
                    " AND holder = %s AND epoch = %s",
                    (self.name, self.holder, self.epoch),
                )
            except Exception:  # the database is gone: the lease expires by itself
                log.debug("could not release the lease of %s", self.name, exc_info=True)

    def is_held(self) -> bool:
        return self.acquired.is_set() and time.monotonic() - self.renewed_at < self.ttl - 1

    async def held(self) -> int:
        while not self.is_held():
            self.acquired.clear()
            await self.acquired.wait()
        return self.epoch

    async def run(self) -> None:
        while True:
            try:
                await (self.renew() if self.acquired.is_set() else self.acquire())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("lease %s: database error: %s", self.name, exc)
                if self.acquired.is_set() and not self.is_held():
                    self.lost("it could not be renewed in time")
            await asyncio.sleep(self.renew_every * random.uniform(0.8, 1.0))

    async def acquire(self) -> None:
        await self.outbox.execute(
            "INSERT INTO ab_leases (receiver) VALUES (%s) ON CONFLICT DO NOTHING", (self.name,)
        )
        started = time.monotonic()
        async with self.outbox.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE ab_leases SET holder = %s, epoch = epoch + 1,"
                " expires_at = clock_timestamp() + make_interval(secs => %s)"
                # Its own lease, still valid after a database outage, it takes back at once.
                " WHERE receiver = %s AND (expires_at < clock_timestamp() OR holder = %s)"
                " RETURNING epoch",
                (self.holder, self.ttl, self.name, self.holder),
            )
            row = await cursor.fetchone()
            if row is None:
                return
            epoch = int(row["epoch"])
            # Sends of earlier holders with no outcome: their fate is unknown. Those whose
            # messages are still queued go out again: possible duplicates.
            cursor = await conn.execute(
                "UPDATE ab_sends SET outcome = 'orphaned' WHERE receiver = %s"
                " AND outcome IS NULL AND epoch < %s RETURNING ids",
                (self.name, epoch),
            )
            orphans = [list(r["ids"]) for r in await cursor.fetchall()]
            again = 0
            for ids in orphans:
                cursor = await conn.execute(
                    "SELECT 1 FROM ab_messages WHERE id = ANY(%s) AND state = 'pending' LIMIT 1",
                    (ids,),
                )
                again += await cursor.fetchone() is not None
        self.epoch, self.renewed_at = epoch, started
        self.acquired.set()
        log.info("lease %s taken by %s (epoch %d)", self.name, self.holder, epoch)
        self.on_change()
        if again:
            log.warning(
                "lease %s: %d send(s) of the previous holder may have gone out: sent again",
                self.name,
                again,
            )
            self.on_possible_duplicates(again)

    async def renew(self) -> None:
        started = time.monotonic()
        renewed = await self.outbox.execute(
            "UPDATE ab_leases SET expires_at = clock_timestamp() + make_interval(secs => %s)"
            " WHERE receiver = %s AND holder = %s AND epoch = %s",
            (self.ttl, self.name, self.holder, self.epoch),
        )
        if renewed:
            self.renewed_at = started
        else:
            self.lost("another replica holds it")

    def lost(self, why: str) -> None:
        log.warning("lease %s lost by %s: %s", self.name, self.holder, why)
        self.acquired.clear()

    async def recent_sends(self, seconds: float) -> list[float]:
        rows = await self.outbox.query(
            "SELECT extract(epoch FROM clock_timestamp())::float8 - at AS ago FROM ab_sends"
            " WHERE receiver = %s AND at > extract(epoch FROM clock_timestamp())::float8 - %s"
            " ORDER BY at",
            (self.name, seconds),
        )
        return [float(r["ago"]) for r in rows]

    async def begin_send(self, ids: Sequence[str], kind: str) -> float | None:
        if not self.is_held():
            return None
        started = time.monotonic()
        longest = max((seconds for _, seconds in self.limits), default=0.0)
        async with self.outbox.transaction() as conn:
            cursor = await conn.execute(
                "SELECT extract(epoch FROM clock_timestamp())::float8 AS now, blocked_until"
                " FROM ab_leases WHERE receiver = %s AND holder = %s AND epoch = %s"
                " AND expires_at > clock_timestamp() + make_interval(secs => %s) FOR UPDATE",
                (self.name, self.holder, self.epoch, self.margin),
            )
            lease = await cursor.fetchone()
            if lease is None:
                self.lost("the fence check failed")
                return None
            now = float(lease["now"])
            cursor = await conn.execute(
                "SELECT at FROM ab_sends WHERE receiver = %s AND at > %s ORDER BY at",
                (self.name, now - longest),
            )
            sent = [float(r["at"]) for r in await cursor.fetchall()]
            wait = window_wait(sent, now, self.limits, float(lease["blocked_until"]))
            if wait > 0:
                return wait
            # A send of these messages whose outcome never got recorded (the database failed
            # between the request and the ack): they may be at the platform already.
            cursor = await conn.execute(
                "UPDATE ab_sends SET outcome = 'orphaned' WHERE receiver = %s AND outcome IS NULL"
                " AND ids && %s RETURNING 1",
                (self.name, list(ids)),
            )
            again = len(await cursor.fetchall())
            await conn.execute(
                "INSERT INTO ab_sends (receiver, at, epoch, holder, kind, ids)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (self.name, now, self.epoch, self.holder, kind, list(ids)),
            )
            if random.random() < 0.01:
                await conn.execute(
                    "DELETE FROM ab_sends WHERE receiver = %s AND at < %s",
                    (self.name, now - max(longest, LEDGER_KEEP_SECONDS)),
                )
        if again:
            self.on_possible_duplicates(again)
        if time.monotonic() - started > FREEZE_GUARD_SECONDS:
            await self.end_send("aborted")
            self.lost("frozen while recording the send")
            return None
        self.sending, self.send_epoch = True, self.epoch
        return 0.0

    async def end_send(self, outcome: str) -> None:
        self.sending = False
        await self.outbox.execute(
            "UPDATE ab_sends SET outcome = %s WHERE receiver = %s AND holder = %s AND epoch = %s"
            " AND outcome IS NULL",
            (outcome, self.name, self.holder, self.send_epoch),
        )

    async def block_for(self, seconds: float) -> None:
        await self.outbox.execute(
            "UPDATE ab_leases SET blocked_until = greatest(blocked_until,"
            " extract(epoch FROM clock_timestamp())::float8 + %s) WHERE receiver = %s",
            (seconds, self.name),
        )

    async def current_holder(self) -> str | None:
        rows = await self.outbox.query(
            "SELECT holder FROM ab_leases WHERE receiver = %s AND expires_at > clock_timestamp()",
            (self.name,),
        )
        return str(rows[0]["holder"]) if rows and rows[0]["holder"] else None


def window_wait(
    sent: Sequence[float], now: float, limits: Sequence[tuple[int, float]], blocked: float
) -> float:
    """Seconds until one more send keeps every window (count per seconds) within its count."""
    moment = max(now, blocked)
    for count, seconds in limits:
        if len(sent) >= count:
            moment = max(moment, sent[-count] + seconds)
    return moment - now
