"""The config as plain pydantic models (extra keys forbidden, frozen): what each key means, its
default and its checks. Reading a file is app/config/load.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from app.platforms import PLATFORMS

# Dropped unless the config lists its own filters: Watchdog and DeadMansSnitch are always-firing
# "the pipeline works" alerts that should never page a chat group.
DEFAULT_FILTERS = [{"matchers": ["alertname =~ Watchdog|DeadMansSnitch"]}]
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Alertmanager and kube-eventer send a body in milliseconds on a cluster network: a request
# still unfinished after this is a stalled or hostile client, answered 408 (issue 6).
DEFAULT_READ_TIMEOUT_SECONDS = 15.0
# Prometheus-style durations ("90s", "10m", "1h30m", "500ms"); a bare number is seconds.
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
Language = Literal["en", "zh"]
DEFAULT_KEY_LABELS = ("cluster", "namespace", "pod", "node", "instance", "service")
# kube-prometheus plumbing: which Prometheus, scrape job and endpoint say nothing to on-call.
DEFAULT_HIDE_LABELS = ("prometheus", "endpoint", "job", "uid", "container", "metrics_path")
DEFAULT_LINK_ANNOTATIONS = ("runbook_url", "dashboard_url", "grafana_url", "logs_url", "panel_url")
# Bound at start-up: the routes' prefix (create_app), the outbox's limits and memory
# (open_outbox), the HTTP client's timeout and uvicorn's shutdown wait. A version that changes
# one is rejected whole rather than half applied: then what runs is always one file as written,
# and the digest in /status describes it.
RESTART_KEYS = (
    "server.path_prefix",
    "server.max_backlog",
    "server.fsync_before_answer",
    "server.send_timeout_seconds",
    "dedup.window",
    "dedup.events_window",
    "delivery.shutdown_grace",
    "outbox.url",
)


class ConfigError(Exception):
    """A config that cannot be used; the message names the offending key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: Any) -> Any:
    """A duration such as "10m" in seconds (600.0); numbers pass through as seconds."""
    if isinstance(value, str):
        text = value.strip()
        parts = DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration like 90s, 10m or 1h30m")
        return sum(float(n) * DURATION_UNIT_SECONDS[u] for n, u in parts)
    return value


# Seconds, written in the config as "10m", "24h", "500ms" or a number of seconds.
DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
    ]
}
Duration = Annotated[
    float, BeforeValidator(parse_duration), Field(gt=0), WithJsonSchema(DURATION_SCHEMA)
]


# open_id / user_id (Feishu), userid (DingTalk, WeCom): nothing that could close a tag or quote.
USER_ID = re.compile(r"[A-Za-z0-9_.+\-]{1,64}")
# Mainland numbers, or "+852-12345678" for the others (chat-platforms.md 2.4).
MOBILE = re.compile(r"\+?[0-9][0-9\-]{4,19}")


class Mentions(Strict):
    """Who a receiver's cards mention (never from a label unless from_labels says so)."""

    all: bool = False  # @everyone (only from config, never a label)
    users: list[str] = Field(default_factory=list)  # platform user ids (open_id, userid)
    mobiles: list[str] = Field(default_factory=list)  # DingTalk / WeCom phone numbers
    # Alert labels or annotations whose comma-separated value names more users to mention:
    # opt-in (e.g. ["mention_users"]), since whoever writes alert rules then decides who is paged.
    from_labels: list[str] = Field(default_factory=list)
    from_labels_mobiles: list[str] = Field(default_factory=list)  # the same, naming phone numbers
    on_resolved: bool = False  # resolved cards are good news: they ping nobody by default
    # Alerts below this severity ping nobody ("" pings for all); kube-eventer Warnings count as
    # warning, Normal events as info.
    min_severity: str = ""

    @field_validator("users")
    @classmethod
    def _users(cls, values: list[str]) -> list[str]:
        return check_ids(values, USER_ID, "user id")

    @field_validator("mobiles")
    @classmethod
    def _mobiles(cls, values: list[str]) -> list[str]:
        return check_ids(values, MOBILE, "phone number")


def check_ids(values: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    """Static mention ids are checked at start-up; "all" is spelled `all: true`, not an id."""
    for value in values:
        bare = value.strip().removeprefix("@")
        if bare.lower() == "all" or not pattern.fullmatch(bare):
            raise ValueError(f"{value!r} is not a valid {what} (for everyone use all: true)")
    return values


class Receiver(Strict):
    """One group bot: where its cards go and who they mention."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")  # used in routes, URLs, metrics
    # feishu | dingtalk | wecom | console
    platform: str = Field(json_schema_extra={"enum": list(PLATFORMS)})
    webhook_url: str = ""  # the bot's webhook; a secret
    secret: str | None = None  # signing secret (Feishu, DingTalk); a secret
    mentions: Mentions = Field(default_factory=Mentions)
    keyword: str | None = None  # put into every card for bots in keyword-security mode
    language: Language | None = None  # the cards' fixed strings; default: server.language

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"unknown platform {value!r}; one of: {', '.join(PLATFORMS)}")
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> Receiver:
        if not PLATFORMS[self.platform].needs_webhook_url:
            return self
        if not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http(s) URL for platform " + self.platform)
        return self


class Cards(Strict):
    """What the built-in cards show (README: "Cards")."""

    # Printed first, in this order, on each alert's first line and in titles.
    key_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_KEY_LABELS))
    # Plumbing never printed among an alert's labels.
    hide_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_HIDE_LABELS))
    # Annotations holding a URL that become buttons/links (runbook, dashboard, logs ...).
    link_annotations: list[str] = Field(default_factory=lambda: list(DEFAULT_LINK_ANNOTATIONS))
    # Other severity words mapped onto critical | warning | info, e.g. {"P1": "critical"}.
    severity_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("severity_map")
    @classmethod
    def _severities(cls, value: dict[str, str]) -> dict[str, str]:
        for name, severity in value.items():
            if severity not in ("critical", "warning", "info"):
                raise ValueError(f"severity_map.{name}: {severity!r} is not critical|warning|info")
        return value


class KubeEventer(Strict):
    """kube-eventer's events carry no cluster: static labels added to each (routing sees them
    too), e.g. {"cluster": "prod-sh"}. A label the event has keeps its value."""

    labels: dict[str, str] = Field(default_factory=dict)


class Route(Strict):
    """Alerts matching every matcher go to these receivers; first match wins."""

    matchers: list[str] = Field(default_factory=list)  # Alertmanager matchers, e.g. 'team = db'
    receivers: list[str]  # receiver names
    continue_: bool = Field(default=False, alias="continue")  # true: later routes match too


class Filter(Strict):
    """Alerts or events matching every matcher are dropped before routing."""

    matchers: list[str]  # Alertmanager matchers, all must match


class BasicAuth(Strict):
    username: str
    password: str


class InboundAuth(Strict):
    """What Alertmanager's http_config can send: `authorization` (Bearer) or `basic_auth`."""

    bearer_token: str | None = None  # Authorization: Bearer (or ?token= on /kube-eventer)
    basic: BasicAuth | None = None  # basic auth: username and password


class Server(Strict):
    """The HTTP service, the cards' links and time zone, the outbox's bounds."""

    path_prefix: str = ""  # e.g. "/1bdc0637": a secret prefix, as the seed's URLs had
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)  # larger bodies get 413
    auth: InboundAuth = Field(default_factory=InboundAuth)
    timezone: str = "Asia/Shanghai"  # times on cards
    cards_dir: Path | None = None  # user templates that override the built-in cards/
    # The base of every Alertmanager link on cards (alerts, silence form); overrides the
    # payload's externalURL, which is often an in-cluster host. "" uses externalURL.
    alertmanager_url: str = ""
    # Replaces the scheme and host of each alert's generatorURL (the "Prometheus" link).
    prometheus_url: str = ""
    language: Language = "en"  # the cards' fixed strings: en or zh; a receiver may override
    max_backlog: int = Field(default=10_000, gt=0)  # per receiver; beyond it we answer 503
    # false: answer once the outbox commit is written (WAL, synchronous=NORMAL): a 2xx survives
    # a crash or kill -9; a power cut can lose the last second (the WAL is synced every second).
    # true: also wait for an fsync (grouped over concurrent requests): a 2xx survives a power
    # cut, but every answer waits on the disk's fsync tail (README, "The outbox").
    fsync_before_answer: bool = False
    send_timeout_seconds: float = Field(default=10.0, gt=0)  # one HTTP request to a bot
    # A request's head, and its body, must arrive within this; else 408.
    read_timeout_seconds: float = Field(default=DEFAULT_READ_TIMEOUT_SECONDS, gt=0)
    # Signed silence links on the cards (app/rendering/silence.py) need both: the address
    # phones reach alertbridge at (an ingress or VPN name), and the key that signs the links.
    public_url: str = ""
    link_secret: str | None = None  # signs silence links (HMAC-SHA256); never shown
    silence_link_lifetime: Duration = 7 * 86400.0  # a link is refused after this
    # Where silences are created (POST /api/v2/silences); default: alertmanager_url.
    alertmanager_api_url: str = ""

    @field_validator("public_url", "alertmanager_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @property
    def silence_api_url(self) -> str:
        return self.alertmanager_api_url or self.alertmanager_url.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("path_prefix must start with '/'")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Limits(Strict):
    """What one inbound notification may hold (app/limits.py enforces it).

    Generous on purpose: Alertmanager's own max_alerts defaults to 0 (unlimited) and a big group
    holds thousands of alerts; a kube-prometheus alert has 10-20 labels and annotations.
    """

    alerts_per_notification: int = Field(default=10_000, gt=0)  # beyond it: 413
    labels_per_alert: int = Field(default=128, gt=0)  # labels, and annotations, each; 422
    label_name_chars: int = Field(default=1024, gt=0)  # a longer name: 422
    label_value_chars: int = Field(default=16 * 1024, gt=0)  # a longer value is clipped


class Delivery(Strict):
    """How long a message is retried, and how a shutdown ends its sends."""

    max_age: Duration = 24 * 3600.0  # a message still failing after this becomes a dead letter
    shutdown_grace: Duration = 10.0  # on SIGTERM, sends in flight may finish within this


class Storm(Strict):
    """Coalesce a receiver's backlog into digests when its bot's rate limit cannot drain it."""

    enabled: bool = True  # false: never coalesce
    max_delay: Duration = 60.0  # a digest waits at most this for more


class Dedup(Strict):
    """Repeats dropped at the door (Alertmanager HA peers, kube-eventer repeats)."""

    window: Duration = 300.0  # Alertmanager HA duplicates of one notification within this
    events_window: Duration = 300.0  # one kube-eventer card per event and receiver within this


class Heartbeat(Strict):
    """Watchdog as the pipeline's heartbeat: a card to `receiver` when it stops arriving."""

    receiver: str  # who gets the pipeline-broken card
    alertname: str = "Watchdog"  # the alert that must keep arriving
    timeout: Duration = 600.0  # silence longer than this: the card goes out


class Console(Strict):
    """The web console (/ui): with credentials, basic auth for every page and the actions
    (retry, purge, send-test); without, read-only and for loopback clients only."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=8)


class Outbox(Strict):
    """Where messages wait: empty = the SQLite file in --data-dir (one replica); a
    postgresql:// URL (or env ALERTBRIDGE_OUTBOX_URL, which wins) = several replicas on one
    PostgreSQL (app/outbox/postgres.py; needs the `postgres` extra)."""

    url: str = ""  # postgresql://...; "": SQLite

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            # The value may hold a password: the message never repeats it.
            raise ValueError("outbox.url must be a postgresql:// URL (or empty for SQLite)")
        return value


def dsn_secrets(url: str) -> list[str]:
    """A database URL's password, as written and URL-decoded: never to be printed (the URL
    itself is not listed: the Redactor would mask its path too, the database's name, which
    is often "alertbridge", in every line)."""
    try:
        password = urlsplit(url).password or ""
    except ValueError:  # unparseable: mask what follows "user:" up to the host, if anything
        password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return [p for p in (password, unquote(password)) if p]


class Config(Strict):
    server: Server = Field(default_factory=Server)
    console: Console | None = None
    cards: Cards = Field(default_factory=Cards)
    kube_eventer: KubeEventer = Field(default_factory=KubeEventer)
    limits: Limits = Field(default_factory=Limits)
    delivery: Delivery = Field(default_factory=Delivery)
    storm: Storm = Field(default_factory=Storm)
    dedup: Dedup = Field(default_factory=Dedup)
    outbox: Outbox = Field(default_factory=Outbox)
    heartbeat: Heartbeat | None = None
    receivers: list[Receiver] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    default_receiver: str | None = None  # takes what no route matched
    filters: list[Filter] = Field(default_factory=lambda: [Filter(**f) for f in DEFAULT_FILTERS])

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [r.name for r in self.receivers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"receiver names must be unique: {sorted(duplicates)}")
        for i, route in enumerate(self.routes):
            for name in route.receivers:
                if name not in names:
                    raise ValueError(f"routes.{i}.receivers: unknown receiver {name!r}")
        if self.default_receiver is not None and self.default_receiver not in names:
            raise ValueError(f"default_receiver: unknown receiver {self.default_receiver!r}")
        if self.heartbeat is not None and self.heartbeat.receiver not in names:
            raise ValueError(f"heartbeat.receiver: unknown receiver {self.heartbeat.receiver!r}")
        return self

    def receiver(self, name: str) -> Receiver | None:
        return next((r for r in self.receivers if r.name == name), None)

    def secrets(self) -> list[str]:
        """Every configured value that must never appear in output."""
        values: list[str] = []
        for r in self.receivers:
            values += [r.webhook_url, r.secret or ""]
        auth = self.server.auth
        values.append(auth.bearer_token or "")
        if auth.basic:
            values.append(auth.basic.password)
        if self.server.path_prefix:
            values.append(self.server.path_prefix.strip("/"))
        values.append(self.server.link_secret or "")
        if self.console is not None:
            values.append(self.console.password)
        values += dsn_secrets(self.outbox.url)
        return [v for v in values if v]
