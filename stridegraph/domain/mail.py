"""Outgoing mail: queued in memory, sent by a background task through aiosmtplib.

Sending never holds up a response: domain functions enqueue after their transaction commits
(``Unit.after_commit``) and return. A few workers send in parallel, so one slow or failing
message does not hold up the others. Temporary failures (connection refused, timeouts, 4xx
replies) are retried with exponential backoff; a permanent 5xx reply is not. Failures are
logged with the message kind, a message id, the attempt and the error class only: never the
recipient, the subject, the body (which may hold a one-time link) or the server's reply text
(which may echo them).

``SMTP_URL`` schemes: ``smtp://`` (plain), ``smtp+starttls://`` (STARTTLS), ``smtps://``
(implicit TLS); credentials from the URL's user and password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from dataclasses import dataclass, field
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
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


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


def is_permanent(exc: BaseException) -> bool:
    """A 5xx reply (bad recipient, refused message) will not get better by retrying."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(e.code >= 500 for e in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False


class Mailer:
    """An in-process outbox. ``start`` launches the workers; ``stop`` drains and ends them.

    ``tls_context`` replaces the default (system trust store, hostname checked) for
    ``smtps://`` and ``smtp+starttls://``; tests pass one trusting their own CA.
    """

    def __init__(
        self,
        smtp_url: str | None,
        sender: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        workers: int = 4,
        timeout: float = 15.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = SmtpTarget.parse(smtp_url) if smtp_url else None
        self.sender = sender
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.workers = workers
        self.timeout = timeout
        self.tls_context = tls_context
        self._queue: asyncio.Queue[Mail] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
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
        self.start()

    def start(self) -> None:
        """Launch the workers on the running loop (idempotent; ``enqueue`` calls it too)."""
        if self._tasks or self.target is None:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._work(), name=f"mailer-{i}") for i in range(self.workers)
        ]

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued message was sent or given up (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait_for(self._queue.join(), timeout)

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await self.drain(timeout=5.0)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
            start_tls=target.start_tls,
            username=target.username,
            password=target.password,
            tls_context=self.tls_context,
            timeout=self.timeout,
        )

    def _log_failure(self, mail: Mail, attempt: int, exc: BaseException) -> None:
        log.warning(
            "mail send failed",
            extra={
                "mail_kind": mail.kind,
                "mail_id": mail.id,
                "attempt": attempt,
                "error": type(exc).__name__,
                "smtp_status": getattr(exc, "code", None),
            },
        )

    async def _deliver(self, mail: Mail) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._send(mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._log_failure(mail, attempt, exc)
                if is_permanent(exc):
                    break
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.base_delay * 2 ** (attempt - 1))
            else:
                self.sent += 1
                log.info("mail sent", extra={"mail_kind": mail.kind, "mail_id": mail.id})
                return
        self.failed += 1
        log.error("mail given up", extra={"mail_kind": mail.kind, "mail_id": mail.id})

    async def _work(self) -> None:
        while True:
            mail = await self._queue.get()
            try:
                await self._deliver(mail)
            except Exception as exc:
                # No log.exception: a trace could carry the message (and its link) in locals
                # or in the exception text.
                self.failed += 1
                log.error(
                    "mail worker error",
                    extra={"mail_kind": mail.kind, "mail_id": mail.id, "error": type(exc).__name__},
                )
            finally:
                self._queue.task_done()
