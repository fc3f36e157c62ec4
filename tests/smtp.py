"""A real SMTP server (aiosmtpd) for the tests, collecting every message it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait (without blocking the event loop the mailer runs on) for ``count`` messages."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def links(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", body_text(message))
