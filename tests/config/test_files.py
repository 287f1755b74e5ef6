"""The one load path of start-up, check-config and reload: YAML and cards checked together, and
the fingerprint and digest that tell one version of the files from another."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.cli.main import main
from app.config.files import MAX_CARD_FILES, current_fingerprint, read_cards
from app.config.model import ConfigError
from app.rendering.checks import load_checked
from tests.support.configmap import ConfigMapVolume
from tests.support.paths import ROOT as REPO_ROOT

TOKEN = "inline-webhook-token-5f0e"
GOOD_CARD = (REPO_ROOT / "cards" / "feishu" / "alert.json.j2").read_text()


def config_text(cards_dir: Path | None = None, token: str = TOKEN, **receiver: str) -> str:
    data: dict[str, object] = {
        "receivers": [
            {
                "name": "ops",
                "platform": "feishu",
                "webhook_url": f"https://open.feishu.cn/open-apis/bot/v2/hook/{token}",
                **receiver,
            }
        ],
        "routes": [{"receivers": ["ops"]}],
    }
    if cards_dir is not None:
        data["server"] = {"cards_dir": str(cards_dir)}
    return yaml.safe_dump(data)


def test_a_configmap_symlink_swap_changes_the_fingerprint_and_the_same_content_does_not(
    tmp_path: Path,
) -> None:
    config, cards = ConfigMapVolume(tmp_path / "config"), ConfigMapVolume(tmp_path / "cards")
    path = tmp_path / "config" / "alertbridge.yaml"
    config.publish({"alertbridge.yaml": config_text(tmp_path / "cards")})
    cards.publish({"feishu/alert.json.j2": GOOD_CARD})
    first = current_fingerprint(path, tmp_path / "cards")
    assert first == load_checked(path, environ={}).fingerprint

    cards.publish({"feishu/alert.json.j2": GOOD_CARD + "{# changed #}"})
    changed_card = current_fingerprint(path, tmp_path / "cards")
    config.publish({"alertbridge.yaml": config_text(tmp_path / "cards", keyword="alert")})
    changed_both = current_fingerprint(path, tmp_path / "cards")
    cards.publish({"feishu/alert.json.j2": GOOD_CARD})
    config.publish({"alertbridge.yaml": config_text(tmp_path / "cards")})

    assert len({first, changed_card, changed_both}) == 3
    assert current_fingerprint(path, tmp_path / "cards") == first


def test_cards_are_read_once_through_the_kubelet_links_and_dot_files_are_skipped(
    tmp_path: Path,
) -> None:
    cards = ConfigMapVolume(tmp_path / "cards")
    cards.publish({"feishu/alert.json.j2": GOOD_CARD, "wecom/_macros.j2": "{# none #}"})
    (tmp_path / "cards" / "feishu" / ".alert.json.j2.swp").write_text("editor state")
    assert [name for name, _ in read_cards(tmp_path / "cards")] == [
        "feishu/alert.json.j2",
        "wecom/_macros.j2",
    ]


def test_the_digest_masks_inline_secrets_and_the_fingerprint_does_not(tmp_path: Path) -> None:
    """The digest is public (/status): it must not confirm a guessed token."""
    one, other = tmp_path / "one.yaml", tmp_path / "other.yaml"
    one.write_text(config_text())
    other.write_text(config_text(token="another-inline-token-77aa"))
    first, second = load_checked(one, environ={}), load_checked(other, environ={})
    assert first.digest == second.digest
    assert first.fingerprint != second.fingerprint
    assert first.digest is not None
    assert first.digest.startswith("sha256:")
    assert TOKEN not in first.digest


@pytest.mark.parametrize(
    ("files", "receiver", "expected"),
    [
        ({"feishu/alert.json.j2": "{% if %}"}, {}, "feishu/alert.json.j2, line 1"),
        ({"feishu/_macros.j2": "{% macro x( %}"}, {}, "feishu/_macros.j2, line 1"),
        (
            {"feishu/digest.json.j2": "{{ 1 | no_such_filter }}"},
            {},
            "digest.json.j2, line 1: No filter named",
        ),
        (
            {"feishu/alert.json.j2": "{{ alerts[0].labels.team.upper() }}"},
            {},
            "feishu/alert.json.j2 fails for receiver ops on the built-in alert sample",
        ),
        (
            {"feishu/event.json.j2": '{"msg_type": "text"'},
            {},
            "feishu/event.json.j2 fails for receiver ops on the built-in event sample",
        ),
        (
            {"feishu/alert.json.j2": '{"msg_type": "text", "content": {"text": "hi"}}'},
            {"keyword": "alarm"},
            "feishu/alert.json.j2 fails for receiver ops",
        ),
        ({"feishu/alert.json.j2": b"\xff\xfe"}, {}, "feishu/alert.json.j2 is not UTF-8"),
    ],
    ids=[
        "syntax-error",
        "broken-macro-file",
        "unknown-filter-in-digest",
        "runtime-error-on-sample",
        "invalid-json",
        "leaves-out-keyword",
        "not-utf8",
    ],
)
def test_a_card_that_would_fall_back_is_refused_with_its_name(
    tmp_path: Path, files: dict[str, str | bytes], receiver: dict[str, str], expected: str
) -> None:
    ConfigMapVolume(tmp_path / "cards").publish(files)
    path = tmp_path / "alertbridge.yaml"
    path.write_text(config_text(tmp_path / "cards", **receiver))
    with pytest.raises(ConfigError, match="cards: ") as refused:
        load_checked(path, environ={})
    assert expected in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_a_good_override_and_the_built_in_cards_pass(tmp_path: Path) -> None:
    ConfigMapVolume(tmp_path / "cards").publish({"feishu/alert.json.j2": GOOD_CARD})
    path = tmp_path / "alertbridge.yaml"
    path.write_text(config_text(tmp_path / "cards", keyword="alertbridge"))
    loaded = load_checked(path, environ={})
    assert loaded.config.server.cards_dir == tmp_path / "cards"
    assert loaded.source == str(path)
    assert load_checked(None, environ={}).config.receivers[0].platform == "console"


def test_a_cards_dir_with_too_many_files_is_refused(tmp_path: Path) -> None:
    for i in range(MAX_CARD_FILES + 1):
        (tmp_path / f"note-{i}.txt").write_text("x")
    path = tmp_path / "alertbridge.yaml"
    path.write_text(config_text(tmp_path))
    with pytest.raises(ConfigError, match=r"server\.cards_dir: more than"):
        load_checked(path, environ={})


def test_a_config_that_is_not_utf8_is_refused_readably(tmp_path: Path) -> None:
    path = tmp_path / "alertbridge.yaml"
    path.write_bytes(b"receivers: \xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_checked(path, environ={})


def test_check_config_prints_the_digest_status_shows_and_refuses_a_bad_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "alertbridge.yaml"
    path.write_text(config_text(tmp_path / "cards"))
    (tmp_path / "cards" / "feishu").mkdir(parents=True)
    assert main(["check-config", str(path)]) == 0
    assert f"digest {load_checked(path, environ={}).digest}" in capsys.readouterr().out
    (tmp_path / "cards" / "feishu" / "alert.json.j2").write_text("{{ oops(")
    assert main(["check-config", str(path)]) == 2
    assert "cards: feishu/alert.json.j2, line 1" in capsys.readouterr().err
