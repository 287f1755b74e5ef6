"""The console as an operator uses it, in headless Chromium: log in, see the receivers, retry a
dead letter, preview a card, send a test card to the fake bots, silence an alert from its card's
link against the real Alertmanager; no secret on any page, every field labelled, keyboard use."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.browser.support import (
    LINK_SECRET,
    PASSWORD,
    PREFIX,
    PUBLIC_URL,
    Stack,
    follow,
    log_in,
    log_out,
    screenshot,
)
from tests.support.bots import SECRETS, TOKENS, card_text
from tests.support.launcher import wait_until
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.e2e

SECRETS_ON_NO_PAGE = [*TOKENS.values(), *SECRETS.values(), PASSWORD, LINK_SECRET, PREFIX[1:]]
# Every <input>, <select> and <textarea> a person fills must have a <label for=its id>.
UNLABELLED = """
return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(e => !e.id || !document.querySelector('label[for="' + e.id + '"]'))
  .map(e => e.outerHTML);
"""


def by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def check_page(driver: Any) -> str:
    """The page's HTML, after checking it shows no secret and labels every field."""
    html: str = driver.page_source
    assert [s for s in SECRETS_ON_NO_PAGE if s in html] == [], driver.current_url
    assert driver.execute_script(UNLABELLED) == [], driver.current_url
    return html


def post_alert(stack: Stack, receiver: str, payload: dict[str, Any]) -> None:
    url = f"{stack.alertbridge.url}{PREFIX}/alertmanager/{receiver}"
    answer = httpx.post(url, json=payload, timeout=10)
    assert answer.status_code == 200, answer.text


def one_alert_payload(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "alertmanager" / "firing.json").read_text())
    alert = payload["alerts"][0]
    alert["labels"]["alertname"] = name
    payload["alerts"] = [alert]
    payload["commonLabels"] = dict(alert["labels"])
    payload["groupLabels"] = {"alertname": name}
    payload["groupKey"] = f'{{}}:{{alertname="{name}"}}'  # not an HA copy of the others
    return payload


def test_without_credentials_every_page_answers_401(stack: Stack) -> None:
    for page in ("", "receivers/feishu-ops", "preview", "send-test"):
        answer = httpx.get(stack.ui(page), timeout=10)
        assert answer.status_code == 401, page
        assert answer.headers["www-authenticate"].startswith("Basic")


def test_logs_in_and_sees_every_receiver(stack: Stack, browser: Any) -> None:
    log_in(browser)
    browser.get(stack.ui())
    assert browser.title == "Overview · alertbridge"
    rows = browser.find_elements(by("CSS_SELECTOR"), "tbody th[scope=row] a")
    assert [r.text for r in rows] == ["feishu-ops", "dingtalk-ops", "wecom-ops"]
    html = check_page(browser)
    assert "Lease holder" in html


def test_a_dead_letter_is_shown_and_retried(stack: Stack, browser: Any) -> None:
    log_in(browser)
    token = TOKENS["wecom"]
    stack.bots.fake.fail(token, "5xx")  # until healed; max_age 1s buries it at the retry
    post_alert(stack, "wecom-ops", one_alert_payload("DiskAlmostFull"))
    wait_until(
        lambda: stack.alertbridge.status()["receivers"]["wecom-ops"]["dead_letters"] == 1,
        timeout=20,
        what="a dead letter for wecom-ops",
        watch=[stack.alertbridge.process],
    )
    stack.bots.fake.heal(token)
    browser.get(stack.ui())
    follow(browser, browser.find_element(by("LINK_TEXT"), "wecom-ops"))
    assert browser.title == "Receiver wecom-ops · alertbridge"
    html = check_page(browser)
    assert "DiskAlmostFull" in html
    assert "http_503" in html  # the recent deliveries and the reason it died
    screenshot(browser, stack, "receiver")
    follow(browser, browser.find_element(by("XPATH"), "//button[text()='Retry DiskAlmostFull']"))
    notice = browser.find_element(by("CSS_SELECTOR"), "p.notice").text
    assert notice == "re-queued 1 dead message(s)"
    wait_until(
        lambda: any("DiskAlmostFull" in t for t in stack.bots.texts(token)),
        timeout=10,
        what="the retried message at the WeCom bot",
        details=lambda: f"{stack.bots.summary()}\n{stack.alertbridge.status()}",
    )
    browser.refresh()
    assert "No dead letters." in check_page(browser)


def test_previews_a_feishu_card(stack: Stack, browser: Any) -> None:
    log_in(browser)
    browser.get(stack.ui("preview"))
    check_page(browser)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(by("ID"), "receiver")).select_by_value("feishu-ops")
    browser.find_element(by("ID"), "source-alert").click()
    follow(browser, browser.find_element(by("XPATH"), "//button[text()='Render']"))
    card = browser.find_element(by("CSS_SELECTOR"), ".card")
    assert "NodeFilesystemAlmostOutOfSpace" in card.text
    assert "red" in card.find_element(by("CSS_SELECTOR"), ".head").get_attribute("class")
    assert "Raw JSON" in browser.find_element(by("TAG_NAME"), "details").text
    check_page(browser)
    screenshot(browser, stack, "preview")


def test_send_test_shows_the_fake_bots_answer(stack: Stack, browser: Any) -> None:
    log_in(browser)
    before = len(stack.bots.fake.messages(TOKENS["dingtalk"]))
    browser.get(stack.ui("send-test"))
    check_page(browser)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(by("ID"), "receiver")).select_by_value("dingtalk-ops")
    follow(browser, browser.find_element(by("XPATH"), "//button[text()='Send the sample card']"))
    assert browser.find_element(by("ID"), "outcome").text == "ok (code 0: ok)"
    assert len(stack.bots.fake.messages(TOKENS["dingtalk"])) == before + 1
    check_page(browser)
    follow(browser, browser.find_element(by("LINK_TEXT"), "Overview"))
    outcomes = [e.text for e in browser.find_elements(by("CSS_SELECTOR"), "td .outcome")]
    assert outcomes == ["delivered"]  # wecom-ops: the retried dead letter went out
    screenshot(browser, stack, "overview")  # after the deliveries above: rows with data


def test_pages_work_from_the_keyboard(stack: Stack, browser: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    log_in(browser)
    browser.get(stack.ui())
    body = browser.find_element(by("TAG_NAME"), "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    for _ in range(4):  # Overview, Preview, Send test, then the first receiver
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "feishu-ops"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_until(lambda: browser.title == "Receiver feishu-ops · alertbridge", timeout=5, what="page")


# Everything a person can use with the mouse; of a radio group, Tab reaches the checked one.
FOCUSABLE = """
const seen = new Set();
return Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea'))
  .filter(e => {
    if (e.type !== 'radio') return true;
    if (seen.has(e.name)) return false;
    seen.add(e.name); return true;
  })
  .map(e => e.type === 'radio' ? e.name : (e.id || e.textContent.trim() || e.name));
"""
NAME_OF_ACTIVE = """
const e = document.activeElement;
if (e.type === 'radio') return e.name;
return e.id || e.textContent.trim() || e.name;
"""


def reached_by_tab(driver: Any) -> list[str]:
    """What Tab visits, in order, from the top of the page until it leaves the page."""
    from selenium.webdriver.common.keys import Keys

    driver.find_element(by("TAG_NAME"), "body").send_keys(Keys.TAB)
    visited: list[str] = []
    for _ in range(200):
        name = driver.execute_script(NAME_OF_ACTIVE)
        if name in visited or driver.switch_to.active_element.tag_name == "body":
            break
        visited.append(name)
        driver.switch_to.active_element.send_keys(Keys.TAB)
    return visited


@pytest.mark.parametrize("page", ["", "receivers/wecom-ops", "preview", "send-test"])
def test_tab_reaches_every_link_button_and_field(stack: Stack, browser: Any, page: str) -> None:
    log_in(browser)
    browser.get(stack.ui(page))
    assert_tab_reaches_everything(browser)


def assert_tab_reaches_everything(driver: Any) -> None:
    wanted = driver.execute_script(FOCUSABLE)
    reached = reached_by_tab(driver)
    missing = [name for name in wanted if name not in reached]
    assert missing == [], f"Tab does not reach {missing} on {driver.current_url}"


def silences(stack: Stack) -> list[dict[str, Any]]:
    answer = httpx.get(f"{stack.alertmanager}/api/v2/silences", timeout=10)
    answer.raise_for_status()
    return [s for s in answer.json() if s["status"]["state"] == "active"]


def silence_link(stack: Stack, name: str) -> str:
    """The link on the Feishu card the bot got for alert `name`, pointed at the service."""
    post_alert(stack, "feishu-ops", one_alert_payload(name))

    def found() -> str | None:
        for body in stack.bots.fake.messages(TOKENS["feishu"]):
            text = card_text(body)
            if name in text and (match := re.search(r"http\S+/ui/silence/[\w.\-]+", text)):
                return match.group(0)
        return None

    link = wait_until(found, timeout=10, what=f"a Feishu card of {name} with a silence link")
    assert link.startswith(f"{PUBLIC_URL}{PREFIX}/ui/silence/")
    return link.replace(PUBLIC_URL, stack.alertbridge.url)


def test_silences_an_alert_from_its_card_against_the_real_alertmanager(
    stack: Stack, browser: Any
) -> None:
    log_out(browser)  # the link works from a phone without the console login
    link = silence_link(stack, "PaymentsLatencyHigh")
    browser.get(link)
    html = check_page(browser)
    assert "PaymentsLatencyHigh" in html
    assert_tab_reaches_everything(browser)
    screenshot(browser, stack, "silence-confirm")
    browser.get(link)  # a chat client's prefetch, twice: nothing is created
    assert silences(stack) == []
    browser.find_element(by("ID"), "duration-1h").click()
    browser.find_element(by("ID"), "name").send_keys("Li Lei")
    browser.find_element(by("ID"), "comment").send_keys("rolling back the release")
    follow(browser, browser.find_element(by("XPATH"), "//button[text()='Create the silence']"))
    assert browser.title == "Silence created · alertbridge"
    check_page(browser)
    [silence] = silences(stack)
    assert silence["createdBy"] == "Li Lei"
    assert silence["comment"] == "rolling back the release"
    labels = one_alert_payload("PaymentsLatencyHigh")["alerts"][0]["labels"]
    assert {m["name"]: m["value"] for m in silence["matchers"]} == labels
    assert all(m.get("isEqual", True) and not m["isRegex"] for m in silence["matchers"])
    shown = browser.find_element(by("LINK_TEXT"), "Open the silence in Alertmanager")
    assert shown.get_attribute("href").endswith(f"/#/silences/{silence['id']}")
    assert stack.alertbridge.metric("alertbridge_silences_created_total") == 1


def test_a_tampered_silence_link_is_refused(stack: Stack, browser: Any) -> None:
    log_out(browser)
    link = silence_link(stack, "QueueBacklogGrowing")
    payload, signature = link.rsplit("/", 1)[1].split(".")
    other = "B" if signature[0] != "B" else "C"
    tampered = link.replace(f"{payload}.{signature}", f"{payload}.{other}{signature[1:]}")
    answer = httpx.get(tampered, timeout=10)
    assert answer.status_code == 403
    browser.get(tampered)
    assert "not valid" in check_page(browser)
    assert [s["createdBy"] for s in silences(stack)] == ["Li Lei"]  # only the earlier test's
