"""The outbox file's durability, kept off the event loop: checkpoints and group commit.

Commits run with synchronous=NORMAL, which writes the WAL but does not fsync it. A thread copies
the WAL back into the database every second (PASSIVE: it never blocks the service's
connection; SQLite syncs the WAL first), so no commit pays for a checkpoint and a power cut loses
at most about a second. With server.fsync_before_answer, `durable()` waits for one fsync of the
WAL, on another thread, that covers every commit made before it: FULL's guarantee (an answered
notification survives a power cut) at one fsync per batch of commits instead of one per commit
on the event loop (~10 ms each under load here, which capped the service below 100 commits/s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("alertbridge.outbox")

CHECKPOINT_SECONDS = 1.0
JOIN_SECONDS = 5.0

Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():  # its request was cancelled meanwhile
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class WalKeeper:
    """Group fsync of `path`'s WAL for whoever awaits `durable()`, and periodic checkpoints."""

    def __init__(self, path: Path | str, connect: Callable[[Path | str], sqlite3.Connection]):
        self.wal = Path(f"{path}-wal")
        self.connect = connect
        self.path = path
        self.changed = threading.Condition()
        self.requested = 0  # each durable() call takes the next number
        self.synced = 0  # every number up to this one is on disk
        self.waiters: list[Waiter] = []
        self.closed = threading.Event()
        self.threads = [
            threading.Thread(target=self.syncs, name="outbox-fsync", daemon=True),
            threading.Thread(target=self.checkpoints, name="outbox-checkpoint", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    async def durable(self) -> None:
        """Returns once every commit made before the call is on disk; OSError if it cannot be."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self.changed:
            self.requested += 1
            self.waiters.append((self.requested, loop, done))
            self.changed.notify()
        await done

    def syncs(self) -> None:
        while True:
            with self.changed:
                while self.synced == self.requested and not self.closed.is_set():
                    self.changed.wait()
                if self.synced == self.requested:
                    return  # closed, and nobody waits
                target = self.requested
            self.release(target, self.fsync())

    def fsync(self) -> OSError | None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
            try:
                os.fsync(fd)  # flushes the file, whichever descriptor wrote it
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("cannot fsync the outbox's WAL %s: %s", self.wal, exc)
            return exc
        return None

    def release(self, target: int, error: OSError | None) -> None:
        with self.changed:
            self.synced = target
            ready = [w for w in self.waiters if w[0] <= target]
            self.waiters = [w for w in self.waiters if w[0] > target]
        for _, loop, done in ready:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody to tell
                loop.call_soon_threadsafe(settle, done, error)

    def checkpoints(self) -> None:
        db = self.connect(self.path)
        try:
            while not self.closed.wait(CHECKPOINT_SECONDS):
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        """Syncs what is still awaited, then stops both threads."""
        self.closed.set()
        with self.changed:
            self.changed.notify()
        for thread in self.threads:
            thread.join(JOIN_SECONDS)
