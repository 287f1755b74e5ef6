"""Fixtures and helpers of the browser tests: the console in a real headless Chromium (Debian's
chromium + chromium-driver, driven by selenium), against a real `alertbridge serve` on loopback,
the fake bots on a loopback port and, for silences, the real prometheus-alertmanager. Skipped
without the browser, failed under CI=true.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support.bots import Bots, fake_bots, serving_bots
from tests.support.builders import bot_receivers, config_data
from tests.support.launcher import (
    LOOPBACK,
    Processes,
    Service,
    start_alertbridge,
    wait_until,
    write_yaml,
)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
)
PREFIX = "/c0ns0le-prefix"
USER, PASSWORD = "oncall", "console-password-0001"
LINK_SECRET = "link-secret-0001"
# Cards carry {public_url}{prefix}/ui/silence/…: the test swaps this for the service's address.
PUBLIC_URL = "http://alertbridge.invalid"
SHOTS = Path("/tmp/console-shots")


def missing(reason: str) -> NoReturn:
    """Skip, except under CI=true, where a missing part of the browser tests fails them."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the browser tests to run", pytrace=False)
    pytest.skip(reason)


def require(path: str, package: str) -> None:
    if shutil.which(path) is None:
        missing(f"{path} is not installed (Debian: apt-get install {package})")


@dataclass
class Stack:
    alertbridge: Service
    bots: Bots
    alertmanager: str
    shots: Path

    def ui(self, path: str = "") -> str:
        return f"{self.alertbridge.url}{PREFIX}/ui/{path}"


def start_alertmanager(processes: Processes, tmp: Path) -> str:
    require("prometheus-alertmanager", "prometheus-alertmanager")
    config = write_yaml(
        tmp / "alertmanager.yml", {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    )

    def argv(port: int) -> list[str]:
        return [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={tmp / 'alertmanager-data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--cluster.listen-address=",
        ]

    return processes.start_listening("alertmanager", argv, "/-/ready").url


def alertbridge_config(bots: Bots, alertmanager: str) -> dict[str, Any]:
    return config_data(
        *bot_receivers(base=bots.url),
        server={
            "path_prefix": PREFIX,
            "public_url": PUBLIC_URL,
            "link_secret": LINK_SECRET,
            "alertmanager_url": alertmanager,
        },
        console={"username": USER, "password": PASSWORD},
        # A failing message becomes a dead letter at its second attempt, about a second later.
        delivery={"shutdown_grace": "50ms", "max_age": "1s"},
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require(CHROMIUM, "chromium")
    require(CHROMEDRIVER, "chromium-driver")
    tmp = tmp_path_factory.mktemp("console")
    with Processes(tmp) as processes, serving_bots(fake_bots()) as bots:
        alertmanager = start_alertmanager(processes, tmp)
        config = write_yaml(tmp / "alertbridge.yaml", alertbridge_config(bots, alertmanager))
        (tmp / "data").mkdir()
        service = start_alertbridge(processes, config, tmp / "data")
        shots = tmp / "shots"
        shots.mkdir()
        yield Stack(service, bots, alertmanager, shots)


@pytest.fixture(scope="module")
def browser(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium logged in to the console: every request carries the basic credentials."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service as DriverService
    except ImportError:
        missing("selenium is not installed (pip install -e '.[test]')")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: Any, user: str = USER, password: str = PASSWORD) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


def follow(driver: Any, element: Any, timeout: float = 20) -> None:
    """Click a link or submit button and wait for the next page to load: a click returns once
    the event is dispatched, and under load the old page can still be there when the test looks
    for an element of the new one."""
    old = driver.find_element("tag name", "html")

    def loaded() -> bool:
        try:
            old.tag_name  # noqa: B018 - raises once the old document is gone
        except Exception:  # selenium's StaleElementReferenceException
            return bool(driver.execute_script("return document.readyState") == "complete")
        return False

    element.click()
    wait_until(loaded, timeout=timeout, what="the next page")


def log_out(driver: Any) -> None:
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def screenshot(driver: Any, stack: Stack, name: str) -> Path:
    """Saved under the test's temp dir and copied to /tmp/console-shots/ for the issue note."""
    path = stack.shots / f"{name}.png"
    driver.save_screenshot(str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path
