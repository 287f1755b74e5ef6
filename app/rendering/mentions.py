"""Who a card mentions: a receiver's static mentions plus ids named in alert labels, validated.
Each platform's mention syntax is its own (app/platforms/<name>.py: mention_markup).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.config.model import MOBILE, USER_ID, Mentions
from app.models import Alert, MentionSet, unique_mentions

_SEPARATORS = re.compile(r"[,;\s]+")


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
    return MentionSet(
        all=mentions.all, users=unique_mentions(users), mobiles=unique_mentions(mobiles)
    )


def dynamic_mentions(mentions: Mentions, alerts: Iterable[Alert]) -> MentionSet:
    """Ids listed (comma/space separated) in the labels or annotations named by the config."""
    if not mentions.from_labels and not mentions.from_labels_mobiles:  # opt-in: usually off
        return MentionSet()
    users: list[str] = []
    mobiles: list[str] = []
    for alert in alerts:
        users += _valid(_listed(alert, mentions.from_labels), USER_ID)
        mobiles += _valid(_listed(alert, mentions.from_labels_mobiles), MOBILE)
    return MentionSet(users=unique_mentions(users), mobiles=unique_mentions(mobiles))


def _listed(alert: Alert, names: Iterable[str]) -> list[str]:
    values: list[str] = []
    for name in names:
        for source in (alert.labels, alert.annotations):
            if name in source:
                values += _SEPARATORS.split(source[name])
    return values
