"""The checked load: a config and its cards are taken into use only when every template in
cards_dir compiles and every receiver's cards render the built-in samples without falling back.
One path for start-up, `check-config` and every reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jinja2 import TemplateSyntaxError

from app.config.files import DIGEST_HEX_CHARS, Loaded, card_texts, fingerprint, read_cards
from app.config.load import EMBEDDED_DEFAULT, default_config, parse_config_bytes, read_config
from app.config.model import Config, ConfigError
from app.ops.redaction import Redactor
from app.platforms import PLATFORMS
from app.rendering.renderer import Renderer
from app.rendering.samples import sample_alert_notification, sample_event_notification
from app.rendering.style import card_settings

TEMPLATE_SUFFIX = ".j2"


def check_cards(config: Config, cards: Mapping[str, str] | None) -> None:
    """Raise ConfigError naming the first card that would not be used as written.

    `cards` are the files of cards_dir by name relative to it (None: no cards_dir). At run time
    a failing card falls back to the built-in one; before a config is taken into use, the one it
    would replace is the better fallback.
    """
    failed: list[str] = []
    server = config.server
    renderer = Renderer(
        timezone=server.timezone,
        cards=cards,
        alertmanager_url=server.alertmanager_url,
        settings=card_settings(config),
        on_template_error=lambda _, template: failed.append(template),
    )
    # Macros and digests too: the samples below do not reach every file.
    for name in sorted(cards or {}):
        if name.endswith(TEMPLATE_SUFFIX):
            compile_card(renderer, name)
    samples = (sample_alert_notification(), sample_event_notification())
    for receiver in config.receivers:
        for sample in samples:
            renderer.render(receiver, sample)
            if failed:
                raise ConfigError(
                    f"cards: {failed[0]} fails for receiver {receiver.name} on the built-in "
                    f"{sample.kind} sample (its error is logged; `alertbridge render --receiver "
                    f"{receiver.name}` shows the card)"
                )


def compile_card(renderer: Renderer, name: str) -> None:
    platform = name.split("/", 1)[0]
    # Each platform has its own escaping, not its own syntax: any environment compiles a shared
    # file, but a platform's own file gets the one it renders in.
    user_cards = renderer.environments(
        platform if platform in PLATFORMS else next(iter(PLATFORMS))
    )[0]
    try:
        user_cards.get_template(name)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"cards: {name}, line {exc.lineno}: {exc.message}") from None


def load_checked(path: Path | None, environ: dict[str, str] | None = None) -> Loaded:
    """Read, parse and validate the config and its cards; ConfigError says what is wrong."""
    if path is None:
        config = default_config(environ)
        check_cards(config, None)
        return Loaded(config, EMBEDDED_DEFAULT, None, "")
    raw = read_config(path)
    config = parse_config_bytes(raw, path, environ)
    files = read_cards(config.server.cards_dir)
    cards = card_texts(files) if config.server.cards_dir is not None else None
    check_cards(config, cards)
    masked = Redactor(config.secrets()).scrub(raw.decode("utf-8")).encode()
    digest = "sha256:" + fingerprint(masked, files)[:DIGEST_HEX_CHARS]
    return Loaded(config, str(path), digest, fingerprint(raw, files), cards)
