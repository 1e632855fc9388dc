"""What the edge logs about a client's mistakes: one line, never a traceback. A traceback in
the log means a bug of ours; bytes a client got wrong are not one."""

from __future__ import annotations

import logging

# uvicorn's WebSocket protocol logs a text frame that is not UTF-8 with logger.exception (and
# then closes the socket with 1007, as it should).
CLIENT_MISTAKES = ("Invalid UTF-8 sequence received from client.",)


class OneLine(logging.Filter):
    """Drops the traceback from the records of CLIENT_MISTAKES; the line itself stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in CLIENT_MISTAKES:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_mistakes() -> None:
    """Installed once per worker process."""
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, OneLine) for f in server_log.filters):
        server_log.addFilter(OneLine())
