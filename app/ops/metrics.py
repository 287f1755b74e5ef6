"""Every metric alertbridge exports, in its own CollectorRegistry (served at GET /metrics).

Label values are receiver names, platforms, sources and platform error codes: never a URL, token
or secret.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from app import __version__


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds...: what every
        # Prometheus exporter has, so the usual dashboards and alerts work on alertbridge too.
        ProcessCollector(registry=r)
        self.build_info = Gauge(
            "alertbridge_build_info",
            "Always 1; the labels say which alertbridge and Python run.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
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
            "Messages given up on (permanent failure, too old, or a card that failed to render).",
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
        self.dead_letters = Gauge(
            "alertbridge_dead_letters",
            "Messages given up on and kept for `alertbridge outbox retry|purge`, per receiver.",
            ["receiver"],
            registry=r,
        )
        self.enqueue_latency = Histogram(
            "alertbridge_outbox_enqueue_seconds",
            "Time to queue one inbound notification durably (render excluded, commit included).",
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
        )
        self.digests = Counter(
            "alertbridge_digests_sent_total",
            "Digest messages sent in a storm instead of the messages they coalesce.",
            ["receiver", "platform"],
            registry=r,
        )
        self.coalesced = Counter(
            "alertbridge_messages_coalesced_total",
            "Queued messages delivered inside a digest rather than on their own.",
            ["receiver", "platform"],
            registry=r,
        )
        self.duplicates = Counter(
            "alertbridge_duplicates_dropped_total",
            "Alertmanager notifications already queued within the dedup window (HA peers).",
            ["source"],
            registry=r,
        )
        self.folded = Counter(
            "alertbridge_events_folded_total",
            "kube-eventer repeats folded into a queued message or held to the window's end.",
            ["receiver"],
            registry=r,
        )
        self.heartbeat_last_seen = Gauge(
            "alertbridge_heartbeat_last_seen_timestamp_seconds",
            "When the last heartbeat (Watchdog) alert arrived, Unix time.",
            registry=r,
        )
        self.heartbeat_missing = Gauge(
            "alertbridge_heartbeat_missing",
            "1 while the heartbeat is overdue and the pipeline-broken card is out, else 0.",
            registry=r,
        )
        self.auth_failures = Counter(
            "alertbridge_auth_failures_total",
            "Inbound requests with missing or wrong credentials.",
            registry=r,
        )
        self.config_reloads = Counter(
            "alertbridge_config_reloads_total",
            "Config reloads (SIGHUP or changed files), by result: success or failure.",
            ["result"],
            registry=r,
        )
        self.silences_created = Counter(
            "alertbridge_silences_created_total",
            "Alertmanager silences created from the console's signed silence links.",
            ["receiver"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "alertbridge_config_last_reload_successful",
            "1 unless the last reload was rejected (the config before it is still in force).",
            registry=r,
        )
        self.lease_changes = Counter(
            "alertbridge_ha_lease_changes_total",
            "Leases this replica took over (PostgreSQL outbox): per receiver, or _heartbeat.",
            ["receiver"],
            registry=r,
        )
        self.possible_duplicates = Counter(
            "alertbridge_ha_possible_duplicates_total",
            "Sends of a previous lease holder with no known outcome, sent again on takeover.",
            ["receiver"],
            registry=r,
        )
        self.db_errors = Counter(
            "alertbridge_outbox_db_errors_total",
            "Failed or timed-out operations on the outbox database (PostgreSQL).",
            registry=r,
        )
        # Both series exist from the start, so increase() sees the first failure, and a process
        # that never reloaded counts as good.
        for result in ("success", "failure"):
            self.config_reloads.labels(result)
        self.config_last_reload_successful.set(1)
