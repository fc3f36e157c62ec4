"""Arguments that many operations take, each described once for clients."""

from __future__ import annotations

from typing import Annotated

import strawberry

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
MailedToken = Annotated[
    str, strawberry.argument(description="The token from the link in the mail we sent.")
]
NewPassword = Annotated[
    str,
    strawberry.argument(description="The new password, under the server's password policy."),
]
Email = Annotated[str, strawberry.argument(description="An e-mail address.")]
