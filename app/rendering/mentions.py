"""Who a card mentions: a receiver's static mentions plus ids named in alert labels, validated,
and the mention syntax of each platform (chat-platforms.md 1.4, 2.4, 3.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.config.model import MOBILE, USER_ID, Mentions
from app.models import Alert
from app.text import Trusted

# A label listing hundreds of ids must not blow up every card; nobody reads past this anyway.
MAX_MENTIONS = 20
_SEPARATORS = re.compile(r"[,;\s]+")


@dataclass(frozen=True, slots=True)
class MentionSet:
    """Validated mentions; `all` can only ever come from the receiver's static config."""

    all: bool = False
    users: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()

    def __or__(self, other: MentionSet) -> MentionSet:
        return MentionSet(
            all=self.all or other.all,
            users=_unique(self.users + other.users),
            mobiles=_unique(self.mobiles + other.mobiles),
        )


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))[:MAX_MENTIONS]


def _valid(values: Iterable[str], pattern: re.Pattern[str]) -> list[str]:
    """The ids that match `pattern`; "all" in any spelling is never an id."""
    ids = []
    for value in values:
        value = value.strip().removeprefix("@")
        if value.lower() != "all" and pattern.fullmatch(value):
            ids.append(value)
    return ids


def static_mentions(mentions: Mentions) -> MentionSet:
    users = _valid(mentions.users, USER_ID)
    mobiles = _valid(mentions.mobiles, MOBILE)
    return MentionSet(all=mentions.all, users=_unique(users), mobiles=_unique(mobiles))


def dynamic_mentions(mentions: Mentions, alerts: Iterable[Alert]) -> MentionSet:
    """Ids listed (comma/space separated) in the labels or annotations named by the config."""
    users: list[str] = []
    mobiles: list[str] = []
    for alert in alerts:
        users += _valid(_listed(alert, mentions.from_labels), USER_ID)
        mobiles += _valid(_listed(alert, mentions.from_labels_mobiles), MOBILE)
    return MentionSet(users=_unique(users), mobiles=_unique(mobiles))


def _listed(alert: Alert, names: Iterable[str]) -> list[str]:
    values: list[str] = []
    for name in names:
        for source in (alert.labels, alert.annotations):
            if name in source:
                values += _SEPARATORS.split(source[name])
    return values


def mention_text(platform: str, mentions: MentionSet) -> Trusted:
    """The inline mention markup for `platform`, built only from validated ids."""
    if platform == "feishu":
        # Card markdown takes open_id/user_id only; Feishu cannot mention a phone number.
        tags = [f"<at id={user}></at>" for user in mentions.users]
        return Trusted(" ".join(["<at id=all></at>"] * mentions.all + tags))
    if platform == "dingtalk":
        # The `at` object does the pinging; "@id" in the text is where the highlight shows.
        return Trusted(" ".join(f"@{m}" for m in mentions.mobiles + mentions.users))
    if platform == "wecom":
        # WeCom markdown knows only <@userid>: no phone numbers, and @all is undocumented
        # there (chat-platforms.md 3.4), so both are left out rather than sent as dead text.
        return Trusted(" ".join(f"<@{user}>" for user in mentions.users))
    everyone = ["@all"] * mentions.all
    return Trusted(" ".join(everyone + [f"@{m}" for m in mentions.users + mentions.mobiles]))
