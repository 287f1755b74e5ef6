"""The process's one log handler: redacted, text or JSON, and shared by uvicorn's loggers."""

from __future__ import annotations

import logging
import os

from app.ops.logformat import LOG_FORMATS, LogFormat, log_formatter
from app.ops.redaction import RedactingFilter, Redactor

LOG_FORMAT_ENV = "ALERTBRIDGE_LOG_FORMAT"


def setup_logging(level: str, redactor: Redactor, log_format: LogFormat = "text") -> None:
    """One redacting handler on the root logger; uvicorn's loggers propagate to it, so they
    share its format (serve passes log_config=None to keep uvicorn from installing its own)."""
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(log_format))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO: bot tokens live in those URLs. The redacting filter
    # would mask them, but a line that says nothing useful is better not written at all.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def chosen_log_format(flag: str | None) -> LogFormat:
    """--log-format, else $ALERTBRIDGE_LOG_FORMAT, else text."""
    value = flag or os.environ.get(LOG_FORMAT_ENV) or "text"
    if value == "json":
        return "json"
    if value == "text":
        return "text"
    raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
