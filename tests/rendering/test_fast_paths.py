"""The renderer's fast paths change no output and open no hole: the sandbox still guards
everything but plain data, cached escaping keeps trusted and untrusted text apart, the compiled
cards print what Jinja's own compiler would, and a split renders few cards, each part still
the longest that fits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import FileSystemLoader
from jinja2.compiler import CodeGenerator

from app.models import Message
from app.platforms import PLATFORMS as REGISTRY
from app.rendering import context as card_context
from app.rendering import renderer as render_module
from app.rendering import sandbox as templating
from app.rendering.renderer import MAX_PARTS, Renderer, _Job, builtin_cards_dir
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.text import _cleaned, clean_text
from tests.support.cards import (
    CHAT_PLATFORMS,
    NOW,
    PLATFORMS,
    alert,
    mentions,
    notification,
    receiver,
    renderer,
    text_of,
)
from tests.support.profiles import examples

# -- the sandbox ------------------------------------------------------------------------------

ESCAPES = {
    "view-class": "{{ alerts[0].__class__.__mro__ }}",
    "view-slots": "{{ alerts[0].__slots__.x }}",
    "view-dict-class": "{{ alerts[0].labels.__class__.__mro__ }}",
    "mentions-globals": "{{ mentions.__init__.__globals__ }}",
    "loop-internals": "{% for a in alerts %}{{ loop._iterator.x }}{% endfor %}",
    "macro-module": "{% import 'feishu/_macros.j2' as m %}{{ m._body_stream.x }}",
    "macro-function": "{% import 'feishu/_macros.j2' as m %}{{ m.pairs._func.x }}",
    "mutate-view": "{{ alerts[0].labels.clear() }}",
    "mutate-shared": "{{ shared_labels.append(1) }}",
}


def user_template(tmp_path: Path, expression: str) -> Path:
    path = tmp_path / "feishu" / "alert.json.j2"
    path.parent.mkdir(parents=True)
    path.write_text('{"msg_type": "text", "content": {"text": "' + expression + '"}}')
    return tmp_path


@pytest.mark.parametrize("expression", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_template_reaches_no_internals_and_changes_nothing_through_the_fast_paths(
    tmp_path: Path, expression: str
) -> None:
    errors: list[tuple[str, str]] = []
    cards = user_template(tmp_path, expression)
    broken = renderer(cards_dir=cards, on_template_error=lambda *a: errors.append(a))
    sample = sample_alert_notification(NOW)
    messages = broken.render(receiver("feishu"), sample)
    assert errors == [("feishu", "feishu/alert.json.j2")], "the sandbox stopped the template"
    assert messages == renderer().render(receiver("feishu"), sample), "the built-in card instead"


def test_reading_view_fields_loop_counters_and_macros_still_works(tmp_path: Path) -> None:
    expression = (
        "{% import 'feishu/_macros.j2' as m with context %}"
        "{% for a in alerts %}{{ loop.index }}/{{ loop.length }} {{ a.alertname }} "
        "{{ m.status(a) }} {{ mentions.text }}{% endfor %}"
    )
    config = receiver("feishu", mentions=mentions(users=["ou_alpha"]))
    cards = user_template(tmp_path, expression)
    message = renderer(cards_dir=cards).render(config, notification(alert("Disk")))[0]
    assert message["content"]["text"] == (
        "1/1 Disk <font color='grey'>WARNING</font> <at id=ou_alpha></at>"
    )


# -- cached escaping --------------------------------------------------------------------------


def test_a_cached_escape_is_never_used_for_trusted_text_of_the_same_characters() -> None:
    tag = "<at id=ou_alpha></at>"  # what mentions.text holds for a static mention of ou_alpha
    shared = renderer()
    pinging = receiver("feishu", mentions=mentions(users=["ou_alpha"]))
    quiet = receiver("feishu")
    for config in (quiet, pinging, quiet):  # escaped first, then trusted, then escaped again
        text = text_of(shared.render(config, notification(alert(annotations={"summary": tag})))[0])
        assert text.count(tag) == (1 if config is pinging else 0)
        assert "&lt;at id=ou&#95;alpha&gt;&lt;/at&gt;" in text


@given(st.text())
@settings(max_examples=examples(300))
def test_clean_text_skips_its_patterns_only_where_they_match_nothing(value: str) -> None:
    assert clean_text(value) == _cleaned(value)


@pytest.mark.parametrize(
    "char",
    ["\u200b", "\u200c", "\u200d", "\ufeff", "\u200e", "\u200f", "\u2060", "\u061c"],
    ids=["zwsp", "zwnj", "zwj", "bom", "lrm", "rlm", "word-joiner", "alm"],
)
def test_clean_text_strips_zero_width_characters_and_direction_marks(char: str) -> None:
    assert not char.isprintable()  # so the fast path hands them to the patterns
    assert clean_text(f"Disk{char}Full{char}") == "DiskFull"


SHORT = st.text(alphabet="abc", max_size=6)  # small enough that a search often succeeds
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | SHORT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SHORT, inner, max_size=4),
    max_leaves=30,
)


@given(message=JSON, text=st.text(alphabet="abc", min_size=1, max_size=3))
@settings(max_examples=examples(300))
def test_the_keyword_search_finds_what_a_search_of_every_string_finds(
    message: Any, text: str
) -> None:
    every_string = any(text in s for s in templating.message_strings(message))
    assert templating.holds_text(message, text) == every_string


# -- the compiled cards -----------------------------------------------------------------------


def contexts(platform: str) -> list[dict[str, Any]]:
    """The variables of the sample alert and event cards, as the renderer builds them."""
    result = []
    for sample in (sample_alert_notification(NOW), sample_event_notification(NOW)):
        job = _Job(renderer(), receiver(platform), sample)
        piece = card_context.CardPart(sample.alerts, 1, 2, 3, job.mentions(sample.alerts, 1))
        result.append(job.card_views(None).context(piece))
    return result


@pytest.mark.parametrize("platform", PLATFORMS)
def test_cards_print_what_jinjas_own_compiler_makes_of_them(platform: str) -> None:
    loader = FileSystemLoader(builtin_cards_dir())
    ours = templating.card_environment(loader, platform)
    jinjas = templating.card_environment(loader, platform)
    jinjas.code_generator_class = CodeGenerator
    for context in contexts(platform):
        name = f"{platform}/{context['kind']}.json.j2"
        printed = ours.get_template(name).render(context)
        assert printed == jinjas.get_template(name).render(context)
        assert json.loads(printed)
    source = loader.get_source(ours, f"{platform}/alert.json.j2")[0]
    assert "escape(environment.finalize(" in str(jinjas.compile(source, raw=True))
    assert "escape(environment.finalize(" not in str(ours.compile(source, raw=True))


def test_switched_off_autoescaping_prints_what_jinja_would(tmp_path: Path) -> None:
    expression = "{% autoescape false %}{{ alerts[0].summary }}{% endautoescape %}"
    loader = FileSystemLoader(user_template(tmp_path, expression))
    ours = templating.card_environment(loader, "feishu")
    jinjas = templating.card_environment(loader, "feishu")
    jinjas.code_generator_class = CodeGenerator
    context = contexts("feishu")[0]
    printed = ours.get_template("feishu/alert.json.j2").render(context)
    assert printed == jinjas.get_template("feishu/alert.json.j2").render(context)


# -- splitting --------------------------------------------------------------------------------


def crowd(count: int) -> list[Any]:
    return [
        alert(
            f"Alert{i:03d}",
            labels={"pod": f"pod-{i}"},
            annotations={"description": f"{i} " + "long description " * (10 + i % 7 * 9)},
        )
        for i in range(count)
    ]


def counting_renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of alerts of every card rendered from now on."""
    shown: list[int] = []
    real = templating.render_message

    def counting(env: Any, name: str, context: dict[str, Any]) -> Message:
        shown.append(len(context["alerts"]))
        return real(env, name, context)

    monkeypatch.setattr(render_module, "render_message", counting)
    return shown


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
@pytest.mark.parametrize("count", [200, 300])  # up to 50 alerts roll up into one message
def test_a_split_renders_about_two_cards_per_part(
    platform: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = counting_renders(monkeypatch)
    messages = renderer().render(receiver(platform), notification(*crowd(count)))
    assert len(messages) > 1
    # The whole card once; per part the count that fits and the one more that does not, give
    # or take a probe where the sizes vary; the final parts are those probes. A part shows its
    # first alert in full and the rest rolled up, so its size is a line only after the first:
    # one probe more per part.
    assert len(shown) <= 1 + 3 * len(messages) + 4, shown
    assert sum(shown) <= 4 * count, shown


@pytest.mark.parametrize("platform", CHAT_PLATFORMS)
@pytest.mark.parametrize("count", [12, 30, 200])
def test_each_part_but_the_last_is_the_longest_that_fits(platform: str, count: int) -> None:
    config = receiver(platform, keyword="KW", mentions=mentions(all=True))
    job = _Job(renderer(), config, notification(*crowd(count), truncated_alerts=3))
    whole = job.card(0, count, 1, 1, 3)
    assert whole is not None
    plan = job.plan(whole)
    limit = REGISTRY[platform].sender.MAX_MESSAGE_BYTES
    for part, chunk in enumerate(plan[:-1], 1):
        more = len(chunk.alerts) + 1
        bigger = job.card(
            chunk.start,
            more,
            part,
            job.probe_parts,
            job.omitted(chunk.start, more, part == MAX_PARTS),
        )
        assert bigger is not None
        assert bigger.size > limit, f"part {part} could show one more"


def test_makes_each_alert_view_once_per_render_call(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = card_context.alert_view

    def counting(item: Any, *args: Any) -> card_context.AlertView:
        made.append(item.labels["pod"])
        return real(item, *args)

    monkeypatch.setattr(card_context, "alert_view", counting)
    messages = renderer().render(receiver("wecom"), notification(*crowd(60)))
    assert len(messages) > 1
    assert sorted(made) == sorted(set(made)), "no alert's view made twice"


def test_a_renderer_shared_by_receivers_renders_each_as_if_alone() -> None:
    items = notification(*crowd(40))
    shared = Renderer(timezone="UTC", clock=lambda: NOW)
    together = [shared.render(receiver(p), items) for p in CHAT_PLATFORMS * 2]
    alone = [renderer().render(receiver(p), items) for p in CHAT_PLATFORMS * 2]
    assert together == alone
