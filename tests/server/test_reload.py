"""Hot reload in one process: the service as `serve` builds it (checked config, one outbox, a
reloader) in front of the fake bots, its config file in a ConfigMap-like volume whose versions
the tests publish; each version is watched and swapped in, or refused."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.bridge import Bridge
from app.ops.metrics import Metrics
from app.ops.redaction import Redactor
from app.rendering.checks import load_checked
from app.server.reload import Reloader
from tests.fakes.chatbots import FakeBots
from tests.support.app import running_app
from tests.support.builders import bot_receiver, config_data
from tests.support.configmap import ConfigMapVolume
from tests.support.paths import FIXTURES

FIRING = (FIXTURES / "alertmanager" / "firing.json").read_bytes()
OLD_TOKEN, NEW_TOKEN = "reload-old-bot-token", "reload-new-bot-token"
PREFIX = "/reload-secret-prefix-1234"
OTHER_PREFIX = "/another-secret-prefix-9876"
POLL_SECONDS = 0.05
WAIT_SECONDS = 10.0
CONFIG_NAME = "alertbridge.yaml"


def receiver(name: str, token: str, **extra: Any) -> dict[str, Any]:
    return {**bot_receiver("wecom", name, token=token), **extra}


OLD_RECEIVER, NEW_RECEIVER = receiver("old", OLD_TOKEN), receiver("new", NEW_TOKEN)


def config(*receivers: dict[str, Any], server: dict[str, Any] | None = None, **top: Any) -> str:
    server = {"path_prefix": PREFIX, **(server or {})}
    top = {"delivery": {"shutdown_grace": "1s"}, **top}
    return yaml.safe_dump(config_data(*receivers, server=server, **top))


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS} s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass
class Service:
    client: httpx.AsyncClient
    bots: FakeBots
    volume: ConfigMapVolume
    reloader: Reloader

    def publish(self, text: str, **more: str) -> None:
        self.volume.publish({CONFIG_NAME: text, **more})

    def bridge(self) -> Bridge:
        return self.reloader.bridge()

    async def post_alert(self) -> None:
        response = await self.client.post(f"{PREFIX}/alertmanager", content=FIRING)
        assert response.status_code == 200, response.text

    async def status(self) -> dict[str, Any]:
        response = await self.client.get("/status")
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data

    async def metrics(self) -> str:
        return (await self.client.get("/metrics")).text

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.bridge().metrics.registry.get_sample_value(name, labels)
        assert value is not None, f"no sample {name} {labels}"
        return value

    def reloads(self, result: str) -> float:
        return self.sample("alertbridge_config_reloads_total", {"result": result})

    async def wait_reloads(self, result: str, count: int) -> None:
        async def reached() -> bool:
            return self.reloads(result) >= count

        await until(reached, f"{count} {result} reload(s)")

    async def wait_delivered(self, token: str, count: int = 1) -> None:
        async def delivered() -> bool:
            return len(self.bots.messages(token)) >= count

        await until(delivered, f"{count} message(s) to {token}")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    bots = FakeBots()
    bots.add_wecom(OLD_TOKEN)
    bots.add_wecom(NEW_TOKEN)
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish({CONFIG_NAME: config(OLD_RECEIVER)})
    # As `serve` builds it: one checked load, one redactor, one bridge, one reloader.
    loaded = load_checked(tmp_path / "config" / CONFIG_NAME)
    bridge = Bridge(
        loaded.config, config_source=loaded.source, redactor=Redactor(), cards=loaded.cards
    )
    reloader = Reloader(loaded_path(tmp_path), loaded, bridge.metrics, poll_seconds=POLL_SECONDS)
    async with running_app(loaded.config, bots, bridge=bridge, reloader=reloader) as client:
        yield Service(client, bots, volume, reloader)


def loaded_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / CONFIG_NAME


async def test_status_shows_the_digest_of_the_files_and_no_reload_yet(service: Service) -> None:
    config_status = (await service.status())["config"]
    assert config_status["digest"] == load_checked(service.reloader.path).digest
    assert config_status["source"] == str(service.reloader.path)
    assert config_status["last_reload"] is None
    assert service.sample("alertbridge_config_last_reload_successful") == 1
    assert service.reloads("failure") == 0


async def test_a_configmap_swap_to_a_new_receiver_is_used_for_the_next_alert(
    service: Service,
) -> None:
    before = (await service.status())["config"]
    service.publish(config(NEW_RECEIVER))
    await service.wait_reloads("success", 1)
    await service.post_alert()
    await service.wait_delivered(NEW_TOKEN)

    status = await service.status()
    assert list(status["receivers"]) == ["new"]
    assert status["config"]["digest"] != before["digest"]
    assert status["config"]["loaded_at"] >= before["loaded_at"]
    assert status["config"]["last_reload"]["trigger"] == "files changed"
    assert status["config"]["last_reload"]["result"] == "success"
    assert service.bots.messages(OLD_TOKEN) == []


def broken_card(tmp_path: Path) -> str:
    cards = tmp_path / "cards" / "wecom"
    cards.mkdir(parents=True)
    (cards / "alert.json.j2").write_text('{"msgtype": "markdown", {{ oops }')
    return config(OLD_RECEIVER, NEW_RECEIVER, server={"cards_dir": str(tmp_path / "cards")})


BAD_VERSIONS: dict[str, tuple[Callable[[Path], str], str]] = {
    "invalid-yaml": (lambda _: "receivers: [\n", "is not valid YAML"),
    "unknown-key": (lambda _: config(OLD_RECEIVER, colour="red"), "colour: Extra inputs"),
    "unknown-receiver-in-route": (
        lambda _: config(OLD_RECEIVER).replace("- old\n", "- nobody\n"),
        "unknown receiver 'nobody'",
    ),
    "unset-environment-variable": (
        lambda _: config(receiver("old", "${RELOAD_TEST_UNSET_TOKEN}")),
        "RELOAD_TEST_UNSET_TOKEN is not set",
    ),
    "broken-card": (broken_card, "cards: wecom/alert.json.j2, line 1"),
    "restart-bound-key": (
        lambda _: config(NEW_RECEIVER, server={"path_prefix": OTHER_PREFIX}),
        "server.path_prefix changed: only a restart applies that",
    ),
}


@pytest.mark.parametrize(("make", "reason"), BAD_VERSIONS.values(), ids=BAD_VERSIONS.keys())
async def test_a_bad_version_is_rejected_counted_and_the_running_config_keeps_delivering(
    service: Service,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], str],
    reason: str,
) -> None:
    running = service.bridge()
    digest = (await service.status())["config"]["digest"]
    with caplog.at_level(logging.INFO, logger="alertbridge.reload"):
        service.publish(make(tmp_path))
        await service.wait_reloads("failure", 1)
        await service.post_alert()
        await service.wait_delivered(OLD_TOKEN)

    status = await service.status()
    last = status["config"]["last_reload"]
    assert (last["result"], last["trigger"]) == ("failure", "files changed")
    assert reason in last["error"]
    assert status["config"]["digest"] == digest
    assert list(status["receivers"]) == ["old"]
    assert service.bridge() is running
    assert service.sample("alertbridge_config_last_reload_successful") == 0
    assert reason in caplog.text
    assert "rejected; the config loaded before" in caplog.text
    for secret in (PREFIX.strip("/"), OTHER_PREFIX.strip("/")):
        assert secret not in json.dumps(status)
        assert secret not in caplog.text
    # The same bytes fail the same way: not tried again at every poll.
    await asyncio.sleep(POLL_SECONDS * 6)
    assert service.reloads("failure") == 1
    assert service.reloads("success") == 0


async def test_a_good_version_after_a_rejected_one_is_loaded(service: Service) -> None:
    service.publish("receivers: [\n")
    await service.wait_reloads("failure", 1)
    service.publish(config(NEW_RECEIVER))
    await service.wait_reloads("success", 1)
    assert service.sample("alertbridge_config_last_reload_successful") == 1
    assert (await service.status())["config"]["last_reload"]["error"] is None


async def test_a_message_queued_before_the_reload_is_sent_once_by_the_new_workers(
    service: Service,
) -> None:
    service.bots.fail(OLD_TOKEN, "5xx")
    await service.post_alert()

    async def attempted() -> bool:
        return any(a.token == OLD_TOKEN for a in service.bots.attempts)

    await until(attempted, "a failed send to the old bot")
    service.publish(config(OLD_RECEIVER, NEW_RECEIVER))
    await service.wait_reloads("success", 1)
    service.bots.heal(OLD_TOKEN)
    await service.wait_delivered(OLD_TOKEN)
    await asyncio.sleep(0.5)  # a second worker on the same queue would have sent it again
    assert len(service.bots.messages(OLD_TOKEN)) == 1
    assert service.bots.messages(NEW_TOKEN) == []  # queued before the new receiver existed
    # The console's recent deliveries span the reload: the old worker's failure, the new one's send.
    outcomes = [d.outcome for d in service.bridge().workers["old"].recent]
    assert outcomes[0] == "retry"
    assert outcomes[-1] == "delivered"


async def test_a_removed_receiver_keeps_its_queue_and_loses_its_gauges(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    service.bots.fail(OLD_TOKEN, "5xx")
    await service.post_alert()
    assert 'alertbridge_queue_depth{receiver="old"}' in await service.metrics()
    with caplog.at_level(logging.WARNING, logger="alertbridge"):
        service.publish(config(NEW_RECEIVER))
        await service.wait_reloads("success", 1)
    assert "receiver old is no longer configured; its 1 queued" in caplog.text
    metrics = await service.metrics()
    assert 'alertbridge_queue_depth{receiver="old"}' not in metrics
    assert 'alertbridge_dead_letters{receiver="old"}' not in metrics
    assert await service.bridge().outbox.backlog("old") == 1


async def test_sighup_reloads_even_unchanged_files(service: Service) -> None:
    running = service.bridge()
    assert service.reloader.on_sighup, "the handler must be in place before the signal is sent"
    os.kill(os.getpid(), signal.SIGHUP)
    await service.wait_reloads("success", 1)
    assert (await service.status())["config"]["last_reload"]["trigger"] == "SIGHUP"
    assert service.bridge() is not running
    await service.post_alert()
    await service.wait_delivered(OLD_TOKEN)


async def test_the_heartbeat_keeps_its_clock_across_a_reload(service: Service) -> None:
    heartbeat = {"receiver": "old", "timeout": "10m"}
    service.publish(config(OLD_RECEIVER, heartbeat=heartbeat))
    await service.wait_reloads("success", 1)
    first = service.bridge().heartbeat
    assert first is not None
    await asyncio.sleep(0.2)  # without carrying it over, a reload would restart the silence
    service.publish(config(OLD_RECEIVER, NEW_RECEIVER, heartbeat=heartbeat))
    await service.wait_reloads("success", 2)
    second = service.bridge().heartbeat
    assert second is not None
    assert second is not first
    assert second.deadline() == first.deadline()


async def test_a_change_is_taken_only_once_the_files_have_settled(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish({CONFIG_NAME: config(OLD_RECEIVER)})
    path = loaded_path(tmp_path)
    reloader = Reloader(path, load_checked(path), Metrics(), poll_seconds=POLL_SECONDS)
    assert not await reloader.files_settled()
    volume.publish({CONFIG_NAME: config(NEW_RECEIVER)})
    assert not await reloader.files_settled()  # first seen: an editor may still be writing
    assert await reloader.files_settled()


async def test_a_card_changed_after_a_rejected_reload_is_not_used(
    service: Service, tmp_path: Path
) -> None:
    """The running cards are the checked copy: a broken file on disk (rejected by the reload)
    is not read when a card is first used afterwards."""
    cards = ConfigMapVolume(tmp_path / "cards" / "wecom")
    cards.publish({"alert.json.j2": CHECKED_CARD})
    service.publish(config(OLD_RECEIVER, server={"cards_dir": str(tmp_path / "cards")}))
    await service.wait_reloads("success", 1)
    cards.publish({"alert.json.j2": CHECKED_CARD.replace("}}", "}")})
    await service.wait_reloads("failure", 1)
    await service.post_alert()  # the first render of the alert card since the reload
    await service.wait_delivered(OLD_TOKEN)
    (message,) = service.bots.messages(OLD_TOKEN)
    assert message["markdown"]["content"].startswith("checked card: ")
    assert "alertbridge_template_errors_total{" not in await service.metrics()


CHECKED_CARD = '{"msgtype": "markdown", "markdown": {"content": "checked card: {{ title }}"}}'
