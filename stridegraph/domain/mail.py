"""Outgoing mail: a durable outbox in the database, delivered through aiosmtplib.

Every mail the service sends is a row of ``outbox`` (:func:`queue`), added to the transaction
of the change that causes it: a rolled-back change sends nothing, and a crash after the commit
loses nothing. Sending never holds up a response: after the commit the request only wakes the
delivery loop (:meth:`Mailer.wake`).

Every worker process runs one delivery loop (started in the app's lifespan). It claims due
rows (``db/outbox.py``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE``
under SQLite's single writer), commits the claim, sends a few in parallel, and records each
outcome. A claim is a lease: a worker that died mid-send leaves rows that any worker claims
again once the lease ran out. Temporary failures (connection refused, timeouts, 4xx replies)
are retried with exponential backoff up to ``max_attempts`` tries, then the row is
``failed``; a permanent 5xx reply fails it at once. Every attempt carries the row's
``Message-ID``, so a retry after a crash is recognisably the same mail. Once delivered (or
given up) the row's bodies, which hold one-time links, are set to NULL.

Failures are logged with the message kind, the row id, the attempt and the error class only:
never the recipient, the subject, the body (which may hold a one-time link) or the server's
reply text (which may echo them).

:meth:`Mailer.enqueue` is the old in-memory path (no database, not durable); the service
itself never uses it, it remains for tools and the transport tests.

``SMTP_URL`` schemes: ``smtp://`` (plain), ``smtp+starttls://`` (STARTTLS), ``smtps://``
(implicit TLS); credentials from the URL's user and password.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stridegraph.db import outbox as outbox_rows
from stridegraph.db.round_trips import spawn_background

# aiosmtplib is imported when mail is first sent (or a send error classified), not at
# start-up: about 1 MB of every worker's memory, and most workers send no mail for hours.
# (Memory, not an import cycle.)

log = logging.getLogger("stridegraph.mail")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    kind: str = "notice"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: the ``Message-ID`` header; outbox rows always have one, the same on every attempt
    message_id: str | None = None


def new_message_id(public_url: str) -> str:
    """A globally unique ``Message-ID`` in the service's own domain (PUBLIC_URL's host)."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"<{uuid.uuid4().hex}@{host}>"


def queue(session: AsyncSession, mail: Mail, *, public_url: str) -> str:
    """Add ``mail`` to the outbox in ``session``'s transaction; returns its Message-ID.
    Nothing is sent until that transaction commits and a delivery loop claims the row.

    The outbox keeps wall-clock time, not the services' clock (tests move that one): its
    timestamps are compared with the delivery loop's clock."""
    message_id = mail.message_id or new_message_id(public_url)
    outbox_rows.add(
        session,
        message_id=message_id,
        kind=mail.kind,
        recipient=mail.to,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        now=dt.datetime.now(dt.UTC),
    )
    return message_id


def _claimer_name() -> str:
    """Who holds a claim: host, process and a per-mailer nonce (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


def _send_errors() -> tuple[type[BaseException], ...]:
    """What a send can fail with and is retried (or given up) for, rather than crash on."""
    import aiosmtplib  # first use: memory (see the note at the top)

    return (aiosmtplib.SMTPException, OSError, TimeoutError)


def is_permanent(exc: BaseException) -> bool:
    """A 5xx reply (bad recipient, refused message) will not get better by retrying."""
    import aiosmtplib  # first use: memory (see the note at the top)

    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(e.code >= 500 for e in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False


class Mailer:
    """The SMTP transport and this process's outbox delivery loop.

    ``start(sessions)`` launches the loop (the app's lifespan does; :meth:`wake` does too,
    for apps whose lifespan does not run); ``stop`` ends it gracefully: sends in progress
    finish, rows claimed but not tried are handed back. ``tls_context`` replaces the default
    (system trust store, hostname checked) for ``smtps://`` and ``smtp+starttls://``; tests
    pass one trusting their own CA.

    Retry ``n`` (1-based) waits ``base_delay * 2 ** (n - 1)`` seconds, at most ``max_delay``.
    ``workers`` mails are sent at once per process; ``lease`` (seconds) must exceed the
    SMTP ``timeout`` comfortably, or a slow send could be claimed (and sent) twice.
    """

    def __init__(
        self,
        smtp_url: str | None,
        sender: str,
        *,
        max_attempts: int = 8,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        workers: int = 4,
        timeout: float = 15.0,
        poll_interval: float = 5.0,
        lease: float = 120.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = SmtpTarget.parse(smtp_url) if smtp_url else None
        self.sender = sender
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.workers = workers
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.lease = dt.timedelta(seconds=lease)
        self.tls_context = tls_context
        self.claimer = _claimer_name()
        self._queue: asyncio.Queue[Mail] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._stopping = False
        self.sent = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return self.target is not None

    # ------------------------------------------------------------------ outbox delivery

    def start(self, sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        """Launch the outbox loop on ``sessions`` (idempotent). Without sessions (and none
        bound before) only the in-memory workers can run; ``enqueue`` starts those."""
        if self.target is None:
            return
        if sessions is not None and self._sessions is None:
            self._sessions = sessions
        if self._sessions is not None and self._loop_task is None and not self._stopping:
            self._loop_task = spawn_background(self._outbox_loop(), name="mail-outbox")

    def wake(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """A commit queued mail: deliver now rather than at the next poll."""
        self.start(sessions)
        self._wakeup.set()

    def backoff(self, attempts: int) -> float:
        """Seconds before the try after ``attempts`` failed ones."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempts - 1)))

    async def _outbox_loop(self) -> None:
        while not self._stopping:
            try:
                full = await self._outbox_round()
                delay = 0.0 if full else await self._idle_delay()
            except Exception as exc:
                # the database is down or busy: try again later, without a trace (statements
                # are logged without parameters anyway, but keep the line short)
                log.warning("mail outbox round failed", extra={"error": type(exc).__name__})
                delay = self.poll_interval
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
            self._wakeup.clear()

    async def _idle_delay(self) -> float:
        """Until the next retry or expiring lease, at most one poll interval (other
        replicas queue mail this process is not told about)."""
        assert self._sessions is not None
        async with self._sessions() as session:
            due = await outbox_rows.next_due(session)
        if due is None:
            return self.poll_interval
        wait = (due - dt.datetime.now(dt.UTC)).total_seconds()
        return min(self.poll_interval, max(0.0, wait))

    async def _outbox_round(self) -> bool:
        """Claim a batch, send it, record every outcome; True when the batch was full (so
        more may be due right away).

        A batch is only as large as the sends made at once: every claimed row starts
        sending immediately, so a lease has to cover one send, never a wait in line behind
        others (a row whose lease ran out while it waited would be claimed and sent by
        another worker too)."""
        assert self._sessions is not None
        limit = self.workers
        async with self._sessions() as session:
            claimed = await outbox_rows.claim(
                session,
                claimer=self.claimer,
                now=dt.datetime.now(dt.UTC),
                lease=self.lease,
                limit=limit,
            )
            await session.commit()
        if not claimed:
            return False
        untried: list[int] = []
        settled: set[int] = set()

        async def one(row: outbox_rows.Claimed) -> None:
            if self._stopping:  # stopped between the claim and the send
                untried.append(row.id)
                return
            await self._deliver_row(row)
            settled.add(row.id)

        try:
            outcomes = await asyncio.gather(*(one(row) for row in claimed), return_exceptions=True)
        except asyncio.CancelledError:
            # stop() ran out of grace: hand back every row of the batch whose outcome is not
            # recorded, so another worker takes it now rather than when the lease ends. A
            # send cut off mid-way may have reached the SMTP server: the retry carries the
            # same Message-ID.
            unsettled = [row.id for row in claimed if row.id not in settled]
            async with self._sessions() as session:
                await outbox_rows.release(session, ids=unsettled, claimer=self.claimer)
                await session.commit()
            raise
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                # recording the outcome failed (database): the row stays claimed until its
                # lease ends, then it is tried again
                log.warning("mail outcome not recorded", extra={"error": type(outcome).__name__})
        if untried:
            async with self._sessions() as session:
                await outbox_rows.release(session, ids=untried, claimer=self.claimer)
                await session.commit()
        return len(claimed) == limit

    async def _deliver_row(self, row: outbox_rows.Claimed) -> None:
        assert self._sessions is not None
        mail = Mail(
            to=row.recipient,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            kind=row.kind,
            id=str(row.id),
            message_id=row.message_id,
        )
        if row.attempts > self.max_attempts:
            # claimed again after its last try's lease ran out (the worker died sending it,
            # maybe because of it): give up rather than try a poison message forever
            await self._record_failure(mail, "LeaseExpired", give_up=True, attempts=row.attempts)
            return
        try:
            await self._send(mail)
        except _send_errors() as exc:
            self._log_failure(mail, row.attempts, exc)
            code = getattr(exc, "code", None)
            error = type(exc).__name__ + (f" {code}" if code is not None else "")
            give_up = is_permanent(exc) or row.attempts >= self.max_attempts
            await self._record_failure(mail, error, give_up=give_up, attempts=row.attempts)
            return
        except Exception as exc:
            # not an SMTP problem (a message that cannot be built): retrying will not help.
            # No log.exception: a trace could carry the message (and its link).
            log.error(
                "mail worker error",
                extra={"mail_kind": mail.kind, "mail_id": mail.id, "error": type(exc).__name__},
            )
            await self._record_failure(mail, type(exc).__name__, give_up=True, attempts=0)
            return
        async with self._sessions() as session:
            await outbox_rows.mark_sent(session, id=row.id, now=dt.datetime.now(dt.UTC))
            await session.commit()
        self.sent += 1
        log.info("mail sent", extra={"mail_kind": mail.kind, "mail_id": mail.id})

    async def _record_failure(
        self, mail: Mail, error: str, *, give_up: bool, attempts: int
    ) -> None:
        """Queue the row again after its backoff, or mark it failed."""
        assert self._sessions is not None
        retry_at = (
            None
            if give_up
            else dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.backoff(attempts))
        )
        async with self._sessions() as session:
            await outbox_rows.mark_attempt_failed(
                session, id=int(mail.id), claimer=self.claimer, error=error, retry_at=retry_at
            )
            await session.commit()
        if give_up:
            self.failed += 1
            log.error("mail given up", extra={"mail_kind": mail.kind, "mail_id": mail.id})

    # ------------------------------------------------------------------ in memory

    def enqueue(self, mail: Mail) -> None:
        """Send ``mail`` from memory, outside the outbox (not durable: tools and tests)."""
        if self.target is None:
            log.info("mail disabled; dropped", extra={"mail_kind": mail.kind})
            return
        self._queue.put_nowait(mail)
        if not self._tasks:
            self._tasks = [
                spawn_background(self._work(), name=f"mailer-{i}") for i in range(self.workers)
            ]

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every message was sent or given up: the in-memory queue, then every
        outbox row (tests; raises TimeoutError)."""
        if self._tasks:
            await asyncio.wait_for(self._queue.join(), timeout)
        if self._sessions is None or self._loop_task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self._sessions() as session:
                if await outbox_rows.pending(session) == 0:
                    return
            if loop.time() > deadline:
                raise TimeoutError("the outbox did not drain")
            self._wakeup.set()
            await asyncio.sleep(0.02)

    async def stop(self, grace: float | None = None) -> None:
        """End delivery: sends in progress finish (within ``grace`` seconds, by default the
        SMTP timeout), rows claimed and not tried are handed back to any worker; a send cut
        off by the grace period leaves its row to be claimed again when its lease ends."""
        self._stopping = True
        self._wakeup.set()
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(loop_task), self.timeout + 1 if grace is None else grace
                )
            except TimeoutError:
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
        with contextlib.suppress(TimeoutError):
            if self._tasks:
                await asyncio.wait_for(self._queue.join(), 5.0)
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
        if mail.message_id:
            message["Message-ID"] = mail.message_id
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        return message

    async def _send(self, mail: Mail) -> None:
        import aiosmtplib  # first use: memory (see the note at the top)

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
            except _send_errors() as exc:
                self._log_failure(mail, attempt, exc)
                if is_permanent(exc):
                    break
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.backoff(attempt))
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
