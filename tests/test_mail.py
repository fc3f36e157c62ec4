"""The mailer against real SMTP servers (plain, STARTTLS, implicit TLS, with credentials; down,
refusing, slow) and the templates it sends."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest

from stridegraph.db.enums import Language
from stridegraph.domain import mail_templates
from stridegraph.domain.mail import Mail, Mailer, SmtpTarget
from stridegraph.logs import JsonFormatter
from tests.mail_fixtures import (
    ConfigurableSink,
    GatedHandler,
    RecordingAuthenticator,
    RejectingHandler,
    graphql_for,
    make_tls,
    set_server_settings,
)
from tests.smtp import SmtpSink, body_text

SENDER = "stridegraph <no-reply@example.org>"
TOKEN = "sgo_" + "S3cr3t" * 7
SECRET_MAIL = Mail(
    to="ann@example.com",
    subject="Reset your password",
    text=f"Open http://testserver/reset-password?token={TOKEN}\n",
    html=f'<p><a href="http://testserver/reset-password?token={TOKEN}">reset</a></p>',
    kind="password_reset",
)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the mail logger wrote, as the JSON log lines production emits."""
    formatter = JsonFormatter()
    return "\n".join(
        formatter.format(r) for r in caplog.records if r.name.startswith("stridegraph")
    )


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == text]


async def until(condition: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def assert_no_secrets(text: str) -> None:
    for secret in (TOKEN, SECRET_MAIL.to, SECRET_MAIL.subject, "reset-password"):
        assert secret not in text


# --------------------------------------------------------------------------- delivery


async def test_plain_smtp_sends_text_and_html(smtp: SmtpSink) -> None:
    mailer = Mailer(smtp.url, SENDER, base_delay=0.01)
    mailer.enqueue(SECRET_MAIL)
    [message] = await smtp.wait_for(1)
    await mailer.stop()
    assert message["To"] == "ann@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "Reset your password"
    assert body_text(message).replace("\r\n", "\n") == SECRET_MAIL.text
    html = message.get_body(preferencelist=("html",))
    assert html is not None and TOKEN in html.get_content()
    assert mailer.sent == 1 and mailer.failed == 0


async def test_a_server_down_at_first_gets_the_mail_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = SmtpSink()  # its port is reserved, but nothing listens yet
    mailer = Mailer(sink.url, SENDER, base_delay=0.1, max_attempts=6)
    caplog.set_level(logging.INFO, logger="stridegraph.mail")
    mailer.enqueue(SECRET_MAIL)
    await until(lambda: messages(caplog, "mail send failed"))
    sink.start()
    try:
        [message] = await sink.wait_for(1)
    finally:
        await mailer.stop()
        sink.stop()
    assert TOKEN in body_text(message)
    assert mailer.sent == 1 and mailer.failed == 0
    failure = messages(caplog, "mail send failed")[0]
    assert failure.mail_kind == "password_reset" and failure.attempt == 1  # type: ignore[attr-defined]
    assert failure.error == "SMTPConnectError"  # type: ignore[attr-defined]
    assert_no_secrets(logged(caplog))


async def test_retries_with_backoff_then_gives_up_without_logging_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = SmtpSink()  # never started: every attempt is refused
    mailer = Mailer(sink.url, SENDER, base_delay=0.01, max_attempts=3)
    caplog.set_level(logging.INFO, logger="stridegraph.mail")
    mailer.enqueue(SECRET_MAIL)
    await mailer.drain()
    await mailer.stop()
    assert mailer.failed == 1 and mailer.sent == 0
    attempts = [r.attempt for r in messages(caplog, "mail send failed")]  # type: ignore[attr-defined]
    assert attempts == [1, 2, 3]
    assert len(messages(caplog, "mail given up")) == 1
    assert_no_secrets(logged(caplog))


async def test_a_permanent_refusal_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    handler = RejectingHandler()
    sink = ConfigurableSink(handler)
    sink.start()
    mailer = Mailer(sink.url, SENDER, base_delay=0.01, max_attempts=5)
    caplog.set_level(logging.INFO, logger="stridegraph.mail")
    try:
        mailer.enqueue(SECRET_MAIL)
        await mailer.drain()
    finally:
        await mailer.stop()
        sink.stop()
    assert handler.attempts == 1
    assert mailer.failed == 1
    assert [r.smtp_status for r in messages(caplog, "mail send failed")] == [550]  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in logged(caplog).splitlines()]
    # not dropped by the log's secret filter
    assert any(line.get("smtp_status") == 550 for line in lines), lines
    assert_no_secrets(logged(caplog))


async def test_starttls_with_credentials_from_the_url(tmp_path: Any) -> None:
    tls = make_tls(tmp_path)
    auth = RecordingAuthenticator("mailer", "p@ss word:/x")
    sink = ConfigurableSink(
        tls_context=tls.server, require_starttls=True, authenticator=auth, auth_required=True
    )
    sink.start()
    url = f"smtp+starttls://mailer:{quote(auth.password, safe='')}@127.0.0.1:{sink.port}"
    mailer = Mailer(url, SENDER, tls_context=tls.client, base_delay=0.01, max_attempts=1)
    try:
        mailer.enqueue(SECRET_MAIL)
        [message] = await sink.wait_for(1)
    finally:
        await mailer.stop()
        sink.stop()
    # AUTH is only offered after STARTTLS (aiosmtpd's auth_require_tls), so this proves both.
    assert [(login, password) for _, login, password in auth.seen] == [("mailer", "p@ss word:/x")]
    assert TOKEN in body_text(message)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_credentials(tmp_path: Any) -> None:
    tls = make_tls(tmp_path)
    auth = RecordingAuthenticator("mailer", "secret")
    sink = ConfigurableSink(
        ssl_context=tls.server, authenticator=auth, auth_required=True, auth_require_tls=False
    )
    sink.start()
    url = f"smtps://mailer:secret@127.0.0.1:{sink.port}"
    mailer = Mailer(url, SENDER, tls_context=tls.client, base_delay=0.01, max_attempts=1)
    try:
        mailer.enqueue(SECRET_MAIL)
        [message] = await sink.wait_for(1)
    finally:
        await mailer.stop()
        sink.stop()
    assert auth.seen and auth.seen[0][1:] == ("mailer", "secret")
    assert message["Subject"] == SECRET_MAIL.subject


async def test_tls_to_an_untrusted_certificate_fails(tmp_path: Any) -> None:
    tls = make_tls(tmp_path / "a")
    other = make_tls(tmp_path / "b")  # the client trusts a different CA
    sink = ConfigurableSink(ssl_context=tls.server)
    sink.start()
    mailer = Mailer(
        f"smtps://127.0.0.1:{sink.port}",
        SENDER,
        tls_context=other.client,
        base_delay=0.01,
        max_attempts=1,
    )
    try:
        mailer.enqueue(SECRET_MAIL)
        await mailer.drain()
    finally:
        await mailer.stop()
        sink.stop()
    assert mailer.failed == 1 and sink.messages == []


def test_smtp_url_schemes_ports_and_credentials() -> None:
    plain = SmtpTarget.parse("smtp://mail.example.org")
    assert (plain.port, plain.use_tls, plain.start_tls, plain.username) == (25, False, False, None)
    starttls = SmtpTarget.parse("smtp+starttls://u%40x:p%3Aw@mail.example.org")
    assert (starttls.port, starttls.use_tls, starttls.start_tls) == (587, False, True)
    assert (starttls.username, starttls.password) == ("u@x", "p:w")
    tls = SmtpTarget.parse("smtps://mail.example.org:2465")
    assert (tls.host, tls.port, tls.use_tls, tls.start_tls) == (
        "mail.example.org",
        2465,
        True,
        False,
    )


async def test_sending_never_holds_up_the_response(settings: Any, db: Any) -> None:
    """The SMTP server accepts nothing until we say so; the mutation answers regardless."""
    sink = ConfigurableSink()
    handler = GatedHandler(sink)
    sink.controller.handler = handler
    sink.start()
    await set_server_settings(db, signup_enabled=True)
    try:
        async with graphql_for(settings.with_(smtp_url=sink.url), db) as (gql, _):
            data = await gql.data(
                """mutation { signUp(input: {username: "slow", email: "slow@example.com",
                   name: "Slow", password: "long enough pw"}) { status errors { code } } }"""
            )
            assert data["signUp"] == {"status": "EMAIL_VERIFICATION_REQUIRED", "errors": []}
            assert sink.messages == []
            handler.gate.set()
            [message] = await sink.wait_for(1)
    finally:
        handler.gate.set()
        sink.stop()
    assert message["To"] == "slow@example.com"


# --------------------------------------------------------------------------- templates

VALUES = {
    "site": "fit.example.org",
    "url": "https://fit.example.org",
    "name": "Ann <b>&",
    "username": "ann",
    "link": "https://fit.example.org/verify-email?token=sgo_abc",
    "hours": "24",
    "minutes": "60",
    "email": "new@example.org",
    "new_email": "new@example.org",
    "old_email": "old@example.org",
    # security mail and export links (issue 18)
    "device": "Firefox 121 on Ubuntu",
    "address": "198.51.100.7",
    "time": "2026-12-03 12:00 UTC",
    "credential": "backup script",
    "days": "7",
}


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in re.findall(r"\$(?:(\w+)|\{(\w+)\})", text)}


@pytest.mark.parametrize("language", mail_templates.languages())
@pytest.mark.parametrize("kind", mail_templates.KINDS)
def test_every_template_renders_in_every_language(kind: str, language: str) -> None:
    source = mail_templates._read(f"{language}/{kind}.txt")
    english = mail_templates._read(f"en/{kind}.txt")
    assert english is not None
    if source is None:
        pytest.skip(f"no {language} translation of {kind}")
    # A translation may use only what English uses, or rendering would fail for lack of a value.
    assert placeholders(source) <= placeholders(english)
    enum_member = next(m for m in Language if mail_templates.directory_for(m) == language)
    rendered = mail_templates.render(kind, enum_member, VALUES, public_url=VALUES["url"])
    assert rendered.language == language
    assert rendered.subject and "$" not in rendered.subject and "\n" not in rendered.subject
    assert "$" not in rendered.text
    assert f'<html lang="{language}">' in rendered.html
    if "$link" in english:
        assert VALUES["link"] in rendered.text
        assert f'href="{VALUES["link"]}"' in rendered.html


def test_the_translations_cover_every_kind() -> None:
    for language in ("es", "fr", "de"):
        for kind in mail_templates.KINDS:
            assert mail_templates._read(f"{language}/{kind}.txt") is not None, (language, kind)


def test_language_choice_and_english_fallback() -> None:
    def language_of(language: Language | None) -> str:
        return mail_templates.render(
            "account_approved", language, VALUES, public_url=VALUES["url"]
        ).language

    assert language_of(Language.ES) == "es"
    assert language_of(Language.DE) == "de"
    assert language_of(Language.FR) == "fr"
    assert language_of(Language.US) == "en"
    assert language_of(Language.IT) == "en"  # no Italian yet
    assert language_of(None) == "en"


def test_html_escapes_values_and_links_only_to_this_server() -> None:
    values = {**VALUES, "name": 'Eve <script>alert(1)</script> https://evil.example/x "q"'}
    rendered = mail_templates.render("verify_email", Language.US, values, public_url=VALUES["url"])
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert 'href="https://evil.example' not in rendered.html
    assert "https://evil.example/x" in rendered.html  # shown as text only
    assert 'href="https://fit.example.org/verify-email?token=sgo_abc"' in rendered.html
    assert values["name"] in rendered.text  # plain text is not escaped


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        mail_templates.render("nope", Language.US, VALUES, public_url=VALUES["url"])
