"""Every metric alertbridge exports, in its own CollectorRegistry (served at GET /metrics).

Label values are receiver names, platforms, sources and platform error codes: never a URL, token
or secret.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "alertbridge_notifications_received_total",
            "Inbound notifications accepted, by source.",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "alertbridge_notifications_rejected_total",
            "Inbound requests refused, by source and HTTP status.",
            ["source", "status"],
            registry=r,
        )
        self.dropped = Counter(
            "alertbridge_alerts_dropped_total",
            "Alerts or events not delivered on purpose: filtered, or no route took them.",
            ["source", "reason"],
            registry=r,
        )
        self.enqueued = Counter(
            "alertbridge_messages_enqueued_total",
            "Rendered messages queued for delivery.",
            ["receiver", "platform"],
            registry=r,
        )
        self.sent = Counter(
            "alertbridge_messages_sent_total",
            "Messages the platform accepted.",
            ["receiver", "platform"],
            registry=r,
        )
        self.failed = Counter(
            "alertbridge_send_failures_total",
            "Failed send attempts, by platform error code and whether a retry can help.",
            ["receiver", "platform", "code", "retryable"],
            registry=r,
        )
        self.retries = Counter(
            "alertbridge_send_retries_total",
            "Send attempts scheduled again after a retryable failure.",
            ["receiver", "platform"],
            registry=r,
        )
        self.dead = Counter(
            "alertbridge_messages_dead_total",
            "Messages given up on (permanent failure or too old).",
            ["receiver", "platform"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "alertbridge_queue_depth",
            "Messages waiting for delivery, per receiver.",
            ["receiver"],
            registry=r,
        )
        self.send_latency = Histogram(
            "alertbridge_send_latency_seconds",
            "Time of one send attempt to the platform.",
            ["platform"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.template_errors = Counter(
            "alertbridge_template_errors_total",
            "User card templates that failed and fell back to the built-in card.",
            ["platform", "template"],
            registry=r,
        )
        self.auth_failures = Counter(
            "alertbridge_auth_failures_total",
            "Inbound requests with missing or wrong credentials.",
            registry=r,
        )
