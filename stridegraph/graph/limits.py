"""Argument ranges checked before execution.

Page sizes and page numbers (``domain.paging.ARGUMENT_BOUNDS``) are checked over the whole
operation, with its variable values, before any resolver runs. Checked inside a resolver
instead, a bad ``first`` fails one field while its siblings are mid-way through their SQL,
and a non-null field's failure cancels them; the answer is the same error either way, but
the work (and the risk) is gone. The listings repeat the check (same table) for callers
outside GraphQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
)

from stridegraph.domain.errors import DomainError
from stridegraph.domain.paging import ARGUMENT_BOUNDS, check_bounds
from stridegraph.graph.errors import bad_user_input, camel

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL_HUMP.sub("_", name).lower()


def _fields(document: DocumentNode, operation: OperationDefinitionNode) -> Iterator[FieldNode]:
    """Every field the operation selects, through fragments (each fragment once)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)


def _int_value(
    node: ValueNode, variables: Mapping[str, Any], defaults: Mapping[str, ValueNode | None]
) -> int | None:
    """The argument's integer value, or None when it is not an integer (coercion, which
    runs next, reports that) or not given."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            value = variables[name]
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        default = defaults.get(name)
        return _int_value(default, variables, defaults) if default is not None else None
    if isinstance(node, IntValueNode):
        return int(node.value)
    return None


@dataclass(frozen=True)
class BoundedArguments:
    """An operation's page-size and page-number arguments (their value nodes, through
    fragments) and its variables' defaults: what depends only on the document, found once
    per document; :meth:`problem` looks at the request's variables."""

    arguments: tuple[tuple[str, ValueNode], ...]
    defaults: Mapping[str, ValueNode | None]

    def problem(self, variables: Mapping[str, Any] | None) -> GraphQLError | None:
        """The first argument out of its bounds, as BAD_USER_INPUT."""
        values = variables or {}
        for name, value in self.arguments:
            try:
                check_bounds(name, _int_value(value, values, self.defaults))
            except DomainError as exc:
                problem = exc.problems[0]
                return bad_user_input(problem.message, camel(problem.field), problem.code.value)
        return None


def bounded_arguments(
    document: DocumentNode, operation: OperationDefinitionNode
) -> BoundedArguments:
    arguments = tuple(
        (name, argument.value)
        for field in _fields(document, operation)
        for argument in field.arguments or ()
        if (name := _snake(argument.name.value)) in ARGUMENT_BOUNDS
    )
    defaults = {
        d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
    }
    return BoundedArguments(arguments, defaults)


def argument_problem(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> GraphQLError | None:
    """The first page-size or page-number argument out of its bounds, as BAD_USER_INPUT."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    return bounded_arguments(document, operation).problem(variables)
