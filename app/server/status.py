"""The JSON of GET /status (liveness: always 200, "ok" or "degraded" with reasons): version,
config load time, per-receiver delivery health; and of GET /ready (readiness: 503 unless the
outbox can commit a write, so a notification answered 2xx is stored).

Webhook URLs appear only as scheme and host; error texts pass through the redactor.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app import __version__
from app.bridge import Bridge
from app.ops.redaction import redact_url

if TYPE_CHECKING:
    from app.server.reload import Reloader

# A receiver whose last this-many attempts all failed (none delivered since) makes /status
# "degraded": one failure is routine (a 5xx, a rate limit), a row of them is an unreachable bot.
FAILING_AFTER_ATTEMPTS = 3


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def status_report(bridge: Bridge, reloader: Reloader | None = None) -> dict[str, Any]:
    """Answers even while the outbox database is down (it is the liveness probe): what cannot
    be read is null, and outbox.error says why."""
    errors: list[str] = []

    async def read(value: Awaitable[Any]) -> Any:
        try:
            return await value
        except Exception as exc:
            errors.append(bridge.redactor.scrub(f"{type(exc).__name__}: {exc}"))
            return None

    receivers: dict[str, Any] = {}
    for receiver in bridge.config.receivers:
        worker = bridge.workers.get(receiver.name)
        health = worker.health if worker else None
        last_error = health.last_error if health else None
        receivers[receiver.name] = {
            "platform": receiver.platform,
            "webhook": redact_url(receiver.webhook_url),
            "signed": receiver.secret is not None,
            "backlog": await read(bridge.outbox.backlog(receiver.name)),
            "dead_letters": await read(bridge.outbox.dead_count(receiver.name)),
            "sent": health.sent if health else 0,
            "last_success": iso(health.last_success if health else None),
            "last_error": bridge.redactor.scrub(last_error) if last_error else None,
            "last_error_at": iso(health.last_error_at if health else None),
            "failures_in_a_row": health.failures_in_a_row if health else 0,
        }
        lease = bridge.leases.get(receiver.name)
        if lease is not None:  # replicas on PostgreSQL: who sends to this bot now
            receivers[receiver.name]["lease_holder"] = await read(lease.current_holder())
            receivers[receiver.name]["lease_held_here"] = lease.is_held()
    reasons = await degraded_reasons(bridge, receivers)
    report: dict[str, Any] = {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "version": __version__,
        "config": config_report(bridge, reloader),
        "outbox": {"backend": bridge.backend},
        "receivers": receivers,
    }
    if bridge.heartbeat is not None:
        heartbeat = await read(bridge.heartbeat.report())
        if heartbeat is not None:
            for key in ("last_seen", "missing_since", "deadline"):
                heartbeat[key] = iso(heartbeat[key])
        report["heartbeat"] = heartbeat
    if errors:
        report["outbox"]["error"] = errors[0]
    return report


async def degraded_reasons(bridge: Bridge, receivers: dict[str, Any]) -> list[str]:
    """Why the service is alive but not doing its job; nothing here is written or probed."""
    reasons = []
    if (failure := await bridge.outbox.write_failure()) is not None:
        reasons.append(f"outbox not writable: {bridge.redactor.scrub(failure)}")
    for name, receiver in receivers.items():
        if receiver["failures_in_a_row"] >= FAILING_AFTER_ATTEMPTS:
            reasons.append(
                f"receiver {name}: the last {receiver['failures_in_a_row']} delivery attempts"
                f" failed ({receiver['last_error']})"
            )
    return reasons


async def readiness(bridge: Bridge) -> list[str]:
    """Why this instance should get no inbound traffic now; empty when it should. Only the
    outbox counts: a bot that is down is what the queue is for, and taking the instance out of
    service would only turn Alertmanager's sends into failures."""
    failure = await bridge.outbox.write_failure(probe=True)
    return [] if failure is None else [f"outbox not writable: {bridge.redactor.scrub(failure)}"]


def config_report(bridge: Bridge, reloader: Reloader | None) -> dict[str, Any]:
    """Which config runs since when, and how the last reload went (its error is already
    redacted)."""
    report: dict[str, Any] = {"source": bridge.config_source, "loaded_at": iso(bridge.loaded_at)}
    if reloader is not None:
        last = reloader.last
        report["digest"] = reloader.loaded.digest
        report["last_reload"] = None
        if last is not None:
            report["last_reload"] = {
                "at": iso(last.at),
                "trigger": last.trigger,
                "result": last.result,
                "error": last.error,
            }
    return report
