"""Shared arrangements for the MFA tests: a controlled clock, enrolment through the API, and
reading the MFA state straight from the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import func, select

from stridegraph.db.models import MfaBackupCode, OneTimeToken, Session, User
from stridegraph.domain.unit import Services

# 10 s into a 30 s time step, so ±15 s stays in the same step.
T0 = dt.datetime(2031, 3, 4, 5, 6, 10, tzinfo=dt.UTC)


@dataclass
class Clock:
    """The services' clock, moved by hand."""

    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def install_clock(services: Services) -> Clock:
    clock = Clock()
    services.clock = clock
    return clock


def code_at(secret: str, when: dt.datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(when, counter_offset=steps)


SETUP = "mutation { setupMfa { secret otpauthUri qrCodeSvg errors { field code message } } }"
ENABLE = """mutation($code: String!) { enableMfa(code: $code) {
  backupCodes me { mfaEnabled } errors { field code message } } }"""
DISABLE = """mutation($code: String!) { disableMfa(code: $code) {
  me { mfaEnabled } errors { field code message } } }"""
REGENERATE = """mutation($code: String!) { regenerateBackupCodes(code: $code) {
  backupCodes errors { field code message } } }"""
RESET = """mutation($id: ID!) { resetUserMfa(id: $id) {
  user { id mfaEnabled } errors { field code message } } }"""
COMPLETE = """mutation($t: String!, $c: String!) { completeMfaLogin(mfaToken: $t, code: $c) {
  accessToken refreshToken expiresAt user { username mfaEnabled }
  errors { field code message } } }"""


def codes_of(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def enrol(gql: Any, token: str, clock: Clock) -> tuple[str, list[str]]:
    """Set up and enable MFA for the token's user; returns the secret and backup codes."""
    setup = (await gql.data(SETUP, token=token))["setupMfa"]
    enabled = (await gql.data(ENABLE, {"code": code_at(setup["secret"], clock.now)}, token=token))[
        "enableMfa"
    ]
    assert enabled["errors"] == [], enabled
    return setup["secret"], enabled["backupCodes"]


@dataclass(frozen=True)
class MfaState:
    enabled: bool
    secret: str | None
    pending: str | None
    last_step: int | None
    backup_codes: tuple[tuple[bytes, dt.datetime | None], ...]
    login_tokens: int
    sessions: int


async def mfa_state(db: Any, user_id: int) -> MfaState:
    """Everything MFA about a user, read from the database on a fresh connection."""
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    User.mfa_enabled,
                    User.mfa_secret,
                    User.mfa_pending_secret,
                    User.mfa_last_used_step,
                ).where(User.id == user_id)
            )
        ).one()
        codes = (
            await conn.execute(
                select(MfaBackupCode.code_hash, MfaBackupCode.used_at)
                .where(MfaBackupCode.user_id == user_id)
                .order_by(MfaBackupCode.id)
            )
        ).all()
        tokens = await conn.scalar(
            select(func.count())
            .select_from(OneTimeToken)
            .where(OneTimeToken.user_id == user_id, OneTimeToken.used_at.is_(None))
        )
        sessions = await conn.scalar(
            select(func.count()).select_from(Session).where(Session.user_id == user_id)
        )
    return MfaState(
        enabled=bool(row[0]),
        secret=row[1],
        pending=row[2],
        last_step=row[3],
        backup_codes=tuple((bytes(h), used) for h, used in codes),
        login_tokens=int(tokens or 0),
        sessions=int(sessions or 0),
    )
