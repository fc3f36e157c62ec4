"""Unknown user and wrong password cost the same time (issue 5, point 3).

Uses a real argon2 cost (about 20 ms a verification, far above the fast test setting) so
that skipping the dummy verification for unknown users would show: the difference of the
medians must stay under half of one verification."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.helpers import PASSWORD, make_user

TRIES = 15
LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  accessToken errors { code } } }"""


@pytest.fixture
def settings(db, tmp_path: Path):
    return make_settings(
        db.url,
        tmp_path / "data",
        argon2_time_cost=2,
        argon2_memory_cost=16384,
        argon2_parallelism=1,
        login_max_failures_account=1000,
        login_max_failures_address=1000,
    )


async def timed_login(gql, username: str) -> float:
    started = time.perf_counter()
    body = await gql.data(LOGIN, {"u": username, "p": "not the password"})
    elapsed = time.perf_counter() - started
    assert [e["code"] for e in body["login"]["errors"]] == ["INVALID_CREDENTIALS"]
    return elapsed


async def test_unknown_user_takes_as_long_as_a_wrong_password(gql, services):
    user = await make_user(services, "timed")
    verifications = []
    for _ in range(5):
        started = time.perf_counter()
        assert await services.passwords.verify(user.password_hash, PASSWORD)
        verifications.append(time.perf_counter() - started)
    one_verification = statistics.median(verifications)
    await timed_login(gql, "warmup")
    unknown, wrong = [], []
    for i in range(TRIES):
        unknown.append(await timed_login(gql, f"ghost{i}"))
        wrong.append(await timed_login(gql, "timed"))
    difference = abs(statistics.median(unknown) - statistics.median(wrong))
    assert difference < one_verification / 2, (
        f"medians differ by {difference * 1000:.1f} ms; one verification takes "
        f"{one_verification * 1000:.1f} ms"
    )
