"""Arguments that many operations take, each described once for clients."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain.reauth import Proof

UserId = Annotated[strawberry.ID, strawberry.argument(description="The user's id (User.id).")]
SessionId = Annotated[
    strawberry.ID, strawberry.argument(description="The session's id (Session.id).")
]
ApiTokenId = Annotated[
    strawberry.ID, strawberry.argument(description="The API token's id (ApiToken.id).")
]
NodeId = Annotated[strawberry.ID, strawberry.argument(description="A global id of this API.")]
Code = Annotated[
    str,
    strawberry.argument(
        description="A code your authenticator app shows now, or an unused backup code."
    ),
]
OptionalCode = Annotated[
    str | None,
    strawberry.argument(
        description="A code your authenticator app shows now, or an unused backup code; "
        "when given it must be right."
    ),
]
CurrentPassword = Annotated[str, strawberry.argument(description="Your current password.")]
OptionalCurrentPassword = Annotated[
    str | None,
    strawberry.argument(
        description="Your current password: needed unless code is given or you signed in "
        "within the last few minutes."
    ),
]


def proof(info: Info, current_password: str | None = None, code: str | None = None) -> Proof:
    """The proof of recent authentication a sensitive mutation hands the domain: its
    password and code arguments with the request's client address (which a wrong one is
    counted against), built here once for every such resolver."""
    return Proof(current_password, code, info.context.client_address)


MailedToken = Annotated[
    str, strawberry.argument(description="The token from the link in the mail we sent.")
]
NewPassword = Annotated[
    str,
    strawberry.argument(description="The new password, under the server's password policy."),
]
Email = Annotated[str, strawberry.argument(description="An e-mail address.")]
IdentityProviderId = Annotated[
    strawberry.ID,
    strawberry.argument(description="The identity provider's id (IdentityProvider.id)."),
]
ProviderId = Annotated[
    strawberry.ID,
    strawberry.argument(description="The identity provider to sign in with (SignInProvider.id)."),
]
IdentityId = Annotated[
    strawberry.ID, strawberry.argument(description="The linked identity's id (Identity.id).")
]
PasskeyId = Annotated[
    strawberry.ID, strawberry.argument(description="The passkey's id (Passkey.id).")
]
Username = Annotated[str, strawberry.argument(description="A username (case-insensitive).")]
Password = Annotated[str, strawberry.argument(description="The account's password.")]
RefreshToken = Annotated[
    str | None,
    strawberry.argument(
        description="The refresh token; leave it out when the server keeps it in the HttpOnly "
        "cookie."
    ),
]
RedirectUri = Annotated[
    str,
    strawberry.argument(
        description="Where the provider sends the browser back, with code and state; the "
        "server must allow it."
    ),
]
ProviderCode = Annotated[
    str, strawberry.argument(description="The code the provider sent back to redirectUri.")
]
ProviderState = Annotated[
    str, strawberry.argument(description="The state the provider sent back to redirectUri.")
]
First = Annotated[
    int | None,
    strawberry.argument(
        description="How many items from the start (or after `after`), at most 100; 20 when "
        "neither first nor last is given."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="A cursor (an edge's cursor): the items after it."),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="How many items from the end (or before `before`), at most 100."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="A cursor (an edge's cursor): the items before it."),
]
#: For an ``input`` argument of an update: its fields' own descriptions say the rest.
CHANGES = strawberry.argument(description="The changes; fields left out stay as they are.")
#: For an ``input`` argument of a creation.
NEW = strawberry.argument(description="The new object's fields.")
RefreshTokenInCookie = Annotated[
    bool | None,
    strawberry.argument(
        description="Send the refresh token as an HttpOnly cookie (Path=/graphql) instead of "
        "in the payload; null: the server's REFRESH_COOKIE setting."
    ),
]
