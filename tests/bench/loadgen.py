"""The load generator of tests/bench/run.py, in a process of its own so that it never shares an
interpreter lock with the service, the floor or the fake bots. Raw asyncio HTTP/1.1 over
keep-alive connections: a request costs the generator a few tens of microseconds, far less than
httpx would, so the floor (the fastest thing measured) is not limited by its client.

- closed loop: `concurrency` connections, each sending its next request when the last answer
  arrived, for `seconds` (after `warmup_seconds` that are not recorded) or `max_requests`;
- open loop: request i is due at start + i / rate whatever happened before (no coordinated
  omission: latency counts from when it was due, so waiting for a connection counts too).

Every loop is bounded in count and time; requests still unanswered `drain_seconds` after the last
one was due are abandoned and counted as timeouts.

    python -m tests.bench.loadgen SPEC_JSON OUT_JSON
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.payloads import instantiate
from tests.support.paths import ROOT as REPO_ROOT

HEADER_END = b"\r\n\r\n"
# uvicorn closes a keep-alive connection idle for 5 s: never reuse one idle for longer than this.
IDLE_REUSE_SECONDS = 4.0
REQUEST_TIMEOUT_SECONDS = 30.0
TIMEOUT = -1  # status recorded for an abandoned request
FAILED = -2  # status recorded for a connection error


@dataclass
class Spec:
    host: str
    port: int
    path: str
    templates: list[str]  # bodies with SEQ placeholders (payloads.py), used in turn
    first_seq: int
    mode: str  # "closed" | "open"
    seconds: float
    concurrency: int = 1
    rate: float = 0.0
    warmup_seconds: float = 0.0
    max_requests: int = 1_000_000
    drain_seconds: float = 10.0
    # Open loop: requests on the wire at once; later ones wait for a connection (and that wait
    # counts). It bounds what an overloaded server still has to work off after the run.
    max_in_flight: int = 32


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)  # seconds, of answered requests
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    elapsed: float = 0.0

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status > 0:
            self.latencies.append(latency)


class Connection:
    """One keep-alive HTTP/1.1 connection; `exchange` sends a POST and reads the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()
        self.open = True

    @classmethod
    async def connect(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(HEADER_END)
        status, length, chunked, close = parse_head(header)
        if chunked:
            await self.read_chunked()
        elif length:
            await self.reader.readexactly(length)
        self.last_used = time.monotonic()
        if close:
            self.close()
        return status

    async def read_chunked(self) -> None:
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await self.reader.readexactly(size + 2)
            if size == 0:
                return

    def close(self) -> None:
        self.open = False
        self.writer.close()


def parse_head(header: bytes) -> tuple[int, int, bool, bool]:
    """(status, content-length, chunked, connection: close) of a response head."""
    lines = header.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    return status, length, chunked, close


def request_head(spec: Spec, length: int) -> bytes:
    return (
        f"POST {spec.path} HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


class Client:
    """Bodies numbered from spec.first_seq, and a pool of connections for the open loop."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.templates = [t.encode() for t in spec.templates]
        self.seq = spec.first_seq
        self.issued = 0
        self.idle: list[Connection] = []
        self.count = 0
        self.freed = asyncio.Condition()

    def take(self) -> bool:
        """Count one more request, unless max_requests were issued already."""
        if self.issued >= self.spec.max_requests:
            return False
        self.issued += 1
        return True

    def next_request(self) -> tuple[bytes, bytes]:
        body = instantiate(self.templates[self.seq % len(self.templates)], self.seq)
        self.seq += 1
        return request_head(self.spec, len(body)), body

    async def send(self, connection: Connection) -> int:
        head, body = self.next_request()
        try:
            return await asyncio.wait_for(connection.exchange(head, body), REQUEST_TIMEOUT_SECONDS)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            connection.close()
            return FAILED
        except TimeoutError:
            connection.close()
            return TIMEOUT

    async def acquire(self) -> Connection:
        async with self.freed:
            while True:
                while self.idle:
                    connection = self.idle.pop()
                    if time.monotonic() - connection.last_used < IDLE_REUSE_SECONDS:
                        return connection
                    connection.close()
                    self.count -= 1
                if self.count < self.spec.max_in_flight:
                    self.count += 1
                    break
                await self.freed.wait()
        try:
            return await Connection.connect(self.spec.host, self.spec.port)
        except OSError:
            await self.release(None)
            raise

    async def release(self, connection: Connection | None) -> None:
        async with self.freed:
            if connection is not None and connection.open:
                self.idle.append(connection)
            else:
                self.count -= 1
            self.freed.notify()


async def closed_loop(spec: Spec) -> Results:
    client, results = Client(spec), Results()
    start = time.monotonic()
    record_from = start + spec.warmup_seconds
    deadline = record_from + spec.seconds

    async def worker() -> None:
        connection: Connection | None = None
        while time.monotonic() < deadline:
            if connection is None or not connection.open:
                try:
                    connection = await Connection.connect(spec.host, spec.port)
                except OSError:
                    results.record(FAILED, 0.0)
                    await asyncio.sleep(0.1)
                    continue
            started = time.monotonic()
            if started >= record_from and not client.take():
                break
            status = await client.send(connection)
            if started >= record_from:
                results.sent += 1
                results.record(status, time.monotonic() - started)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    results.elapsed = time.monotonic() - record_from
    return results


async def open_loop(spec: Spec) -> Results:
    client, results = Client(spec), Results()
    total = min(spec.max_requests, round(spec.rate * spec.seconds))
    start = time.monotonic() + 0.2
    done_at: list[float] = []

    async def one(due: float) -> None:
        try:
            connection = await client.acquire()
        except OSError:
            results.record(FAILED, 0.0)
            return
        status = await client.send(connection)
        results.record(status, time.monotonic() - due)
        done_at.append(time.monotonic())
        await client.release(connection)

    tasks = []
    for index in range(total):
        due = start + index / spec.rate
        if (pause := due - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(due)))
        results.sent += 1
    last_due = start + (total - 1) / spec.rate
    pending = [t for t in tasks if not t.done()]
    if pending:
        _, late = await asyncio.wait(
            pending, timeout=max(0.0, last_due - time.monotonic()) + spec.drain_seconds
        )
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for _ in late:
            results.record(TIMEOUT, 0.0)
    results.elapsed = (max(done_at) if done_at else time.monotonic()) - start
    return results


def summary(spec: Spec, results: Results, cpu_seconds: float) -> dict[str, Any]:
    ok = results.statuses.get(200, 0)
    return {
        "mode": spec.mode,
        "concurrency": spec.concurrency if spec.mode == "closed" else None,
        "rate": spec.rate if spec.mode == "open" else None,
        "sent": results.sent,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(results.statuses.items())},
        "elapsed_s": results.elapsed,
        "throughput_rps": ok / results.elapsed if results.elapsed > 0 else 0.0,
        "latencies_s": results.latencies,
        "client_cpu_s": cpu_seconds,
    }


def run(spec: Spec) -> dict[str, Any]:
    cpu = time.process_time()
    loop = closed_loop if spec.mode == "closed" else open_loop
    results = asyncio.run(loop(spec))
    return summary(spec, results, time.process_time() - cpu)


def run_in_process(spec: Spec, slack_seconds: float) -> dict[str, Any]:
    """`run(spec)` in a Python process of its own (this module as a script), so that the
    generator never shares an interpreter lock with what it measures; bounded by the spec's
    own durations plus `slack_seconds`."""
    with tempfile.TemporaryDirectory(prefix="alertbridge-loadgen-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        argv = [sys.executable, "-m", "tests.bench.loadgen", str(spec_path), str(out_path)]
        limit = spec.warmup_seconds + spec.seconds + spec.drain_seconds + slack_seconds
        subprocess.run(argv, cwd=REPO_ROOT, check=True, timeout=limit)
        result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def main() -> None:
    spec_path, out_path = sys.argv[1:3]
    spec = Spec(**json.loads(Path(spec_path).read_text()))
    Path(out_path).write_text(json.dumps(run(spec)))


if __name__ == "__main__":
    main()
