"""How log records are written: a readable text line (the default) or one JSON object per line
(time, level, logger, message and the record's structured fields, for log collectors).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal, get_args

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Every attribute logging itself puts on a record; anything else came from `extra=` (and
# "message"/"asctime" are set by formatters). taskName is new in Python 3.12. uvicorn adds
# "color_message", the message again with terminal colour codes: noise in a JSON line.
_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
RECORD_ATTRIBUTES = frozenset(
    [*vars(_BLANK_RECORD), "message", "asctime", "taskName", "color_message"]
)


def structured_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a caller passed with `extra=` (receiver, outcome, latency_ms, ...)."""
    return {k: v for k, v in vars(record).items() if k not in RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: a traceback is part of the escaped message."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        # The four keys above come first and win over a structured field of the same name.
        fields = {k: v for k, v in structured_fields(record).items() if k not in entry}
        # default=str: a field that is no JSON type (a Path, an exception) is written as text.
        return json.dumps(entry | fields, ensure_ascii=False, default=str)


def log_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
