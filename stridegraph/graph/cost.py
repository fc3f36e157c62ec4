"""At most one costly anonymous field per operation.

``signUp``, ``login``, ``completeMfaLogin``, ``requestPasswordReset`` and
``resendVerificationEmail`` cost an argon2 hash, a rate-limit reservation or a mail, and need
no credentials; so do the passkey sign-in steps (a stored challenge, or a signature check and a
reservation) and ``startExternalLogin`` / ``finishExternalLogin`` (calls to an identity
provider). Aliases would let one request run thirty of them (nine seconds of CPU behind
one rate-limit check at the edge), so an operation may hold at most one, counted through
aliases, inline fragments and fragment spreads. The rule runs at validation, before anything
executes, and tells the client what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

COSTLY_FIELDS: tuple[str, ...] = (
    "signUp",
    "login",
    "completeMfaLogin",
    "requestPasswordReset",
    "resendVerificationEmail",
    "startExternalLogin",
    "finishExternalLogin",
    "startPasskeyLogin",
    "finishPasskeyLogin",
)
CODE = "GRAPHQL_VALIDATION_FAILED"


def _root_fields(
    selection_set: SelectionSetNode, context: ValidationContext, seen: frozenset[str]
) -> Iterator[FieldNode]:
    """The operation's top-level fields, with fragments expanded (each fragment once per
    path, so a cycle, which another rule reports, cannot loop here)."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, context, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:
                yield from _root_fields(fragment.selection_set, context, seen | {name})


class OneCostlyFieldPerOperation(ValidationRule):
    """Refuse an operation holding more than one of :data:`COSTLY_FIELDS`."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        costly = [
            field
            for field in _root_fields(node.selection_set, self.context, frozenset())
            if field.name.value in COSTLY_FIELDS
        ]
        if len(costly) > 1:
            self.report_error(
                GraphQLError(
                    f"An operation may contain at most one of {', '.join(COSTLY_FIELDS)}"
                    f" (this one has {len(costly)}); send each as its own request.",
                    nodes=costly,
                    extensions={"code": CODE},
                )
            )
