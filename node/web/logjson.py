"""One JSON object per log line (``http.log_format = "json"``; issue 16 item 3), for a log
collector: time (UTC, ISO 8601), level, logger, message, and the exception's text when there is
one. The log never carries personal data (issue 13 item 6): messages name ids, not people."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def use_format(fmt: str) -> None:
    """Put every handler of the root logger on ``fmt`` (``text`` leaves them as they are)."""
    if fmt == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
