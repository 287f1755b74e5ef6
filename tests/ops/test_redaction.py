"""Secrets are masked in every string and every log record."""

from __future__ import annotations

import logging

import pytest

from app.ops.redaction import RedactingFilter, Redactor, redact_url

URL = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"


def test_redact_url_keeps_only_scheme_and_host() -> None:
    assert redact_url(URL) == "https://oapi.dingtalk.com/***"
    assert (
        redact_url("http://127.0.0.1:9000/open-apis/bot/v2/hook/tok") == "http://127.0.0.1:9000/***"
    )


@pytest.mark.parametrize(
    "text",
    [URL, "token 0123456789abcdef failed", "sent to /robot/send?access_token=0123456789abcdef"],
    ids=["whole-url", "bare-token", "path-and-query"],
)
def test_scrub_masks_url_and_its_token(text: str) -> None:
    scrubbed = Redactor([URL]).scrub(text)
    assert "0123456789abcdef" not in scrubbed
    assert "***" in scrubbed


def test_scrub_masks_plain_secrets_but_keeps_ordinary_words() -> None:
    redactor = Redactor(["SECsigning-secret", URL])
    assert redactor.scrub("robot send failed: SECsigning-secret") == "robot send failed: ***"


def test_log_filter_scrubs_arguments_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    redacting = RedactingFilter(Redactor([URL]))
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("posting to %s", URL)
            try:
                raise RuntimeError(f"boom at {URL}")
            except RuntimeError:
                logger.exception("failed")
    finally:
        logger.removeFilter(redacting)
    assert "0123456789abcdef" not in caplog.text
    assert "boom at" in caplog.text


def test_a_later_config_load_adds_secrets_and_keeps_the_earlier_ones() -> None:
    """After a reload, the old workers' last errors may still name the old config's secrets."""
    redactor = Redactor([URL])
    redactor.update(["SECnew-signing-secret"])
    scrubbed = redactor.scrub("old 0123456789abcdef, new SECnew-signing-secret")
    assert scrubbed == "old ***, new ***"
