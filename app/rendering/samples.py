"""Built-in sample notifications: what `alertbridge render` shows without a payload, and what the
card tests render. Shaped like real kube-prometheus alerts and a real kube-eventer event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models import Alert, Notification

PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"
ALERTMANAGER = "http://alertmanager-main.monitoring.svc:9093"
RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).replace(microsecond=0)


def _filesystem_alert(now: datetime) -> Alert:
    labels = {
        "alertname": "NodeFilesystemAlmostOutOfSpace",
        "severity": "critical",
        "namespace": "monitoring",
        "container": "node-exporter",
        "device": "/dev/nvme0n1p1",
        "fstype": "ext4",
        "instance": "node-3",
        "job": "node-exporter",
        "mountpoint": "/var/lib/containerd",
        "prometheus": "monitoring/k8s",
    }
    return Alert(
        status="firing",
        labels=labels,
        annotations={
            "summary": "Filesystem has less than 3% space left.",
            "description": "Filesystem on /dev/nvme0n1p1, mounted on /var/lib/containerd, "
            "at node-3 has only 2.41% available space left.",
            "runbook_url": f"{RUNBOOKS}/node/nodefilesystemalmostoutofspace",
        },
        starts_at=now - timedelta(minutes=12),
        ends_at=None,
        generator_url=f"{PROMETHEUS}/graph?g0.expr=%28node_filesystem_avail_bytes%7B"
        "job%3D%22node-exporter%22%7D+%2F+node_filesystem_size_bytes+%2A+100+%3C+3%29&g0.tab=1",
        fingerprint="4f1c2b7a9d0e3c51",
    )


def _crashloop_alert(now: datetime) -> Alert:
    labels = {
        "alertname": "KubePodCrashLooping",
        "severity": "warning",
        "namespace": "monitoring",
        "container": "config-reloader",
        "job": "kube-state-metrics",
        "pod": "alertmanager-main-1",
        "reason": "CrashLoopBackOff",
        "prometheus": "monitoring/k8s",
    }
    return Alert(
        status="firing",
        labels=labels,
        annotations={
            "summary": "Pod is crash looping.",
            "description": "Pod monitoring/alertmanager-main-1 (config-reloader) is in waiting "
            'state (reason: "CrashLoopBackOff").',
            "runbook_url": f"{RUNBOOKS}/kubernetes/kubepodcrashlooping",
        },
        starts_at=now - timedelta(hours=1, minutes=3),
        ends_at=None,
        generator_url=f"{PROMETHEUS}/graph?g0.expr=max_over_time%28kube_pod_container_status_"
        "waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1&g0.tab=1",
        fingerprint="9a3e5d21c07b4f68",
    )


def sample_alert_notification(now: datetime | None = None) -> Notification:
    """Two firing alerts of one kube-prometheus group (grouped by namespace): critical + warning."""
    moment = _now(now)
    alerts = [_filesystem_alert(moment), _crashloop_alert(moment)]
    return Notification(
        kind="alert",
        status="firing",
        alerts=alerts,
        receiver="ops",
        group_key='{}:{namespace="monitoring"}',
        group_labels={"namespace": "monitoring"},
        common_labels={"namespace": "monitoring", "prometheus": "monitoring/k8s"},
        common_annotations={},
        external_url=ALERTMANAGER,
    )


def sample_event_notification(now: datetime | None = None) -> Notification:
    """A Warning BackOff event of a pod whose container keeps failing, seen 5 times."""
    moment = _now(now)
    event = Alert(
        status="firing",
        labels={
            "type": "Warning",
            "namespace": "payments",
            "kind": "Pod",
            "name": "checkout-7f9c6d5b8-x2k4q",
            "reason": "BackOff",
            "component": "kubelet",
            "host": "node-3",
            "severity": "warning",
        },
        annotations={
            "message": "Back-off restarting failed container checkout in pod "
            "checkout-7f9c6d5b8-x2k4q_payments(0b6c1a9e-3d52-4f0a-9c57-1e8d2f4b7a60)",
        },
        starts_at=moment - timedelta(minutes=9),
        ends_at=moment - timedelta(seconds=30),
        fingerprint="0b6c1a9e-3d52-4f0a-9c57-1e8d2f4b7a60",
        count=5,
    )
    return Notification(
        kind="event",
        status="firing",
        alerts=[event],
        common_labels=dict(event.labels),
        common_annotations=dict(event.annotations),
    )
