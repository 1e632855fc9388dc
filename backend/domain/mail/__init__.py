"""Outgoing mail: messages rendered from jinja2 templates (autoescaped), sent with aiosmtplib."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.config import MailSettings

env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["timestamp"] = lambda ms: datetime.fromtimestamp(int(ms) / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def header(value: str, limit: int = 200) -> str:
    """A header value from text people typed: every control, format and line or paragraph
    separator character (\\x0b, \\x85, \\u2028, ...; Python's email refuses them, and the
    job would fail on every retry) becomes a space, and runs of spaces one."""
    cleaned = "".join(" " if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
                      else c for c in value)
    return " ".join(cleaned.split())[:limit]


def render(template: str, to: str, subject: str, settings: MailSettings, reply_to: str = "",
           **context: Any) -> EmailMessage:
    """A text + HTML message from ``<template>.txt`` and ``<template>.html``."""
    msg = EmailMessage()
    msg["From"] = header(settings.mail_from)
    msg["To"] = header(to)
    msg["Subject"] = header(subject)
    if reply_to:
        msg["Reply-To"] = header(reply_to)
    msg.set_content(env.get_template(f"{template}.txt").render(**context))
    msg.add_alternative(env.get_template(f"{template}.html").render(**context), subtype="html")
    return msg


async def send(settings: MailSettings, msg: EmailMessage) -> None:
    await aiosmtplib.send(msg, hostname=settings.smtp_host, port=settings.smtp_port, timeout=20)
