"""Outgoing mail: queued in memory, sent by a background task through aiosmtplib.

Sending never holds up a response: domain functions enqueue after their transaction commits
(``Unit.after_commit``) and return. The worker retries with exponential backoff and logs
failures without the message body (which may hold a one-time link).

``SMTP_URL`` schemes: ``smtp://`` (plain), ``smtp+starttls://`` (STARTTLS), ``smtps://``
(implicit TLS); credentials from the URL's user and password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("stridegraph.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    kind: str = "notice"


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    use_tls: bool
    start_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 587 if parts.scheme == "smtp+starttls" else 25),
            use_tls=tls,
            start_tls=parts.scheme == "smtp+starttls",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Mailer:
    """An in-process outbox. ``start`` launches the worker; ``stop`` drains and ends it."""

    def __init__(
        self,
        smtp_url: str | None,
        sender: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
    ) -> None:
        self.target = SmtpTarget.parse(smtp_url) if smtp_url else None
        self.sender = sender
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self._queue: asyncio.Queue[Mail] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return self.target is not None

    def enqueue(self, mail: Mail) -> None:
        if self.target is None:
            log.info("mail disabled; dropped", extra={"mail_kind": mail.kind})
            return
        self._queue.put_nowait(mail)
        if self._task is None:
            self.start()

    def start(self) -> None:
        if self._task is None and self.target is not None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name="mailer")

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued message was sent or given up (tests, shutdown)."""
        if self._task is not None:
            await asyncio.wait_for(self._queue.join(), timeout)

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout=5.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        return message

    async def _send(self, mail: Mail) -> None:
        target = self.target
        assert target is not None
        await aiosmtplib.send(
            self._message(mail),
            hostname=target.host,
            port=target.port,
            use_tls=target.use_tls,
            start_tls=target.start_tls if target.start_tls else False,
            username=target.username,
            password=target.password,
            timeout=15,
        )

    async def _deliver(self, mail: Mail) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._send(mail)
                self.sent += 1
                return
            except (aiosmtplib.SMTPException, OSError) as exc:
                log.warning(
                    "mail send failed",
                    extra={"mail_kind": mail.kind, "attempt": attempt, "error": type(exc).__name__},
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.base_delay * 2 ** (attempt - 1))
        self.failed += 1
        log.error("mail given up", extra={"mail_kind": mail.kind})

    async def _work(self) -> None:
        while True:
            mail = await self._queue.get()
            try:
                await self._deliver(mail)
            except Exception:
                log.exception("mail worker error", extra={"mail_kind": mail.kind})
            finally:
                self._queue.task_done()
