"""Mail templates: one plain-text file per message kind and language, HTML built from it.

Layout: ``<language>/<kind>.txt``. The first line is ``Subject: …``, then a blank line, then
the body. Placeholders use :class:`string.Template` (``$name``, ``${name}``); a missing value
is an error, never a silent blank. Language directories are the seed's codes (``es``, ``fr``,
``de``…) with ``en`` for ``US``; a kind missing in a language falls back to English, so a
partial translation is safe to ship.

The HTML part is derived from the rendered text (escaped, paragraphs, links to this server
turned into anchors) inside ``layout.html``, so translators edit one file and the two parts
cannot drift apart. Only links under PUBLIC_URL become anchors: a user's name that looks like
a URL stays text. A ``<language>/<kind>.html`` file, when present, replaces the derived HTML
body (same placeholders, values HTML-escaped).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from stridegraph.db.enums import Language

FALLBACK = "en"
KINDS = (
    "verify_email",
    "signup_existing",
    "approval_requested",
    "account_approved",
    "password_reset",
    "set_password",
    "password_changed",
    "email_change",
    "email_changed",
    "mfa_enabled",
    "mfa_disabled",
    "mfa_reset",
    "new_sign_in",
    "api_token_added",
    "passkey_added",
    "identity_linked",
    "export_ready",
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


def directory_for(language: Language | None) -> str:
    """The template directory for a user's preferred language (``US`` is English)."""
    if language is None or language is Language.US:
        return FALLBACK
    return language.value


@cache
def _read(name: str) -> str | None:
    path = resources.files(__package__).joinpath(name)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def languages() -> tuple[str, ...]:
    """Directories that hold at least one template."""
    root = resources.files(__package__)
    return tuple(
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    )


def _source(kind: str, language: str, suffix: str) -> tuple[str, str] | None:
    for candidate in (language, FALLBACK):
        text = _read(f"{candidate}/{kind}.{suffix}")
        if text is not None:
            return text, candidate
    return None


def _paragraph(block: str, link_re: re.Pattern[str]) -> str:
    escaped = html.escape(block.strip())
    if link_re.fullmatch(escaped):
        return (
            f'<p><a href="{escaped}" style="display:inline-block;padding:10px 18px;'
            f'background:#1f6feb;color:#ffffff;text-decoration:none;border-radius:6px">'
            f"{escaped}</a></p>"
        )
    linked = link_re.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    return "<p>" + linked.replace("\n", "<br>\n") + "</p>"


def _html_from_text(body: str, public_url: str) -> str:
    link_re = re.compile(re.escape(html.escape(public_url)) + r"[^\s<>\"']*")
    blocks = [b for b in re.split(r"\n\s*\n", body) if b.strip()]
    return "\n".join(_paragraph(b, link_re) for b in blocks)


def render(
    kind: str, language: Language | None, values: Mapping[str, str], *, public_url: str
) -> Rendered:
    """Render ``kind`` in the user's language (English where no translation exists)."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    found = _source(kind, directory_for(language), "txt")
    if found is None:
        raise LookupError(f"no template for {kind!r}")
    source, used = found
    head, _, body = Template(source).substitute(values).partition("\n\n")
    if not head.startswith("Subject:"):
        raise ValueError(f"{used}/{kind}.txt must start with a 'Subject:' line")
    subject = head.removeprefix("Subject:").strip()
    text = body.strip() + "\n"
    override = _read(f"{used}/{kind}.html")
    if override is not None:
        content = Template(override).substitute({k: html.escape(v) for k, v in values.items()})
    else:
        content = _html_from_text(text, public_url)
    page = Template(_read("layout.html") or "$content").substitute(
        lang=html.escape(used), subject=html.escape(subject), content=content
    )
    return Rendered(subject=subject, text=text, html=page, language=used)
