"""The list filters (`pairs`, `joined`, `markdown_links`, `usable_links`) print exactly what
the Jinja loops they replaced printed, for any text; and the one-pass percent-encoding of
silence filters is urllib's quote."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader

from app.rendering.links import _quoted
from app.rendering.sandbox import card_environment
from app.text import Trusted
from tests.support.cards import CHAT_PLATFORMS
from tests.support.profiles import examples

# Each filter beside the loop it stands for in the cards.
EQUIVALENTS = {
    "pairs": (
        "{{ items|pairs }}",
        "{% for name, value in items %}{% if not loop.first %} · {% endif %}"
        "{{ name }}={{ value }}{% endfor %}",
    ),
    "joined": (
        '{{ objects|joined(", ") }}',
        "{% for o in objects %}{% if not loop.first %}, {% endif %}{{ o }}{% endfor %}",
    ),
    "markdown_links": (
        "{{ links|markdown_links }}",
        "{% for label, url in links if url %}{% if not loop.first %} · {% endif %}"
        "[{{ label }}]({{ url }}){% endfor %}",
    ),
    # The Feishu buttons: the first one usable is marked without a loop context.
    "usable_links": (
        "{% for label, url, first in links|usable_links %}{% if first %}[{% else %}, {% endif %}"
        "{{ label|plain }}={{ url }}{% endfor %}",
        "{% for label, url in links if url %}{% if loop.first %}[{% else %}, {% endif %}"
        "{{ label|plain }}={{ url }}{% endfor %}",
    ),
}
TEXT = st.text(alphabet=st.sampled_from(list('ab _*[]()<>@&#`\\"\n\u2028é·')), max_size=8)


def rendered(platform: str, template: str, **variables: object) -> str:
    env = card_environment(DictLoader({"t": template}), platform)
    return env.get_template("t").render(**variables)


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
@pytest.mark.parametrize("name", EQUIVALENTS)
@given(
    pairs=st.lists(st.tuples(TEXT, TEXT), max_size=4),
    urls=st.lists(st.sampled_from(["", "https://x.test/a?b=1&c=(2)"]), max_size=4),
)
@settings(max_examples=examples(60))
def test_a_list_filter_prints_what_its_loop_printed(
    platform: str, name: str, pairs: list[tuple[str, str]], urls: list[str]
) -> None:
    variables = {
        "items": pairs,
        "objects": [value for _, value in pairs],
        "links": [(label, Trusted(url)) for (label, _), url in zip(pairs, urls, strict=False)],
    }
    fast, loop = EQUIVALENTS[name]
    assert rendered(platform, fast, **variables) == rendered(platform, loop, **variables)


@given(st.text())
@settings(max_examples=examples(300))
def test_silence_filters_are_percent_encoded_as_urllib_does(text: str) -> None:
    assert _quoted(text) == quote(text, safe="")


def test_every_ascii_character_is_percent_encoded_as_urllib_does() -> None:
    every = "".join(chr(c) for c in range(128))
    assert _quoted(every) == quote(every, safe="")
