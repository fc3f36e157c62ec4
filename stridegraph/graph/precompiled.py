"""Precompiled queries: the common request answered without graphql-core's executor.

Most traffic is a handful of documents sent again and again (``me``, a listing page). For a
document that is already parsed and validated (``graph.pipeline``'s cache), whose operation
is a query, and whose selections are plain fields of object types (no directives, no
abstract types, no introspection but ``__typename``, each response key selected once), this
module compiles a plan once: per field, the resolver the schema gives it, or the attribute
Strawberry would read, or the relay id it would encode, and how its value is serialised.
Running a plan calls the same resolvers with the same ``info`` they would get from the
executor, so permission classes, DataLoaders (every sibling resolver is called before any
is awaited, so a list's loads still batch into one statement) and the domain work exactly
as they do there.

Anything a plan does not cover is answered by the full path, which gives the same answer
by construction: a document that does not compile, a request that is not plain JSON, an
authentication failure, an argument beyond its bounds, variables that do not coerce, and
any exception or null where the schema promises a value, raised while running the plan
(:class:`Fallback`). Queries read, so running the full path after a failed attempt changes
nothing; an error is the full path's to report, with its masking and codes.

What the plan skips is per-field machinery (``build_resolve_info``, ``complete_value``,
Strawberry's result wrapping and extension hooks), which costs more CPU than a small query's
database work; the answer is serialised with orjson straight from the plan's dict.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeGuard

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    default_field_resolver,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined
from strawberry import relay

#: A value, or an awaitable of it: sibling fields are all called before any is awaited.
Resolved = Any


class Fallback(Exception):
    """The plan cannot answer this request; the full path will."""


class NotCompilable(Exception):
    """The document uses something plans do not cover."""


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return hasattr(value, "__await__")


@dataclass(slots=True)
class Operation:
    """What every field's ``info`` shares for one request."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    document_operation: OperationDefinitionNode
    variables: dict[str, Any]
    context: Any


class FieldPlan:
    """One response key of a selection set: how to get its value from the parent object and
    how to complete it (``complete`` is None for a leaf, whose ``serialize`` is used)."""

    __slots__ = (
        "arguments",
        "attribute",
        "complete",
        "definition",
        "getter",
        "key",
        "may_wait",
        "name",
        "node",
        "parent",
        "passes",
        "path",
    )

    def __init__(
        self,
        *,
        key: str,
        node: FieldNode,
        parent: GraphQLObjectType,
        definition: GraphQLField | None,
        path: Path,
    ) -> None:
        self.key = key
        self.node = node
        self.name = node.name.value
        self.parent = parent
        self.definition = definition
        self.path = path
        self.arguments = bool(node.arguments) or bool(definition and definition.args)
        self.getter: Callable[[Any, Operation], Resolved] = self._resolve
        self.complete: Callable[[Any, Operation], Resolved] = _identity
        #: may ``complete`` return an awaitable (objects and lists may; leaves never do)
        self.may_wait = False
        #: for a plain attribute, its getter (C-level), used instead of ``getter``
        self.attribute: Callable[[Any], Any] | None = None
        #: the type a leaf's value passes unchanged (``_PASSES_AS_IS``), if any
        self.passes: type | None = None

    def info(self, operation: Operation) -> GraphQLResolveInfo:
        """The ``info`` the executor would pass (``variable_values`` as the coerced dict,
        as Strawberry's own execution context passes it)."""
        assert self.definition is not None
        return GraphQLResolveInfo(
            self.name,
            [self.node],
            self.definition.type,
            self.parent,
            self.path,
            operation.schema,
            operation.fragments,
            None,
            operation.document_operation,
            operation.variables,  # type: ignore[arg-type]
            operation.context,
            _is_awaitable,
            None,
            None,  # type: ignore[arg-type]
        )

    def _resolve(self, source: Any, operation: Operation) -> Resolved:
        assert self.definition is not None
        info = self.info(operation)
        resolve = self.definition.resolve or default_field_resolver
        if not self.arguments:
            return resolve(source, info)
        try:
            args = get_argument_values(self.definition, self.node, _as_variables(operation))
        except GraphQLError:
            raise Fallback from None
        return resolve(source, info, **args)


def _identity(value: Any, operation: Operation) -> Any:
    return value


class _Variables:
    """The shape ``get_argument_values`` reads (``.coerced``)."""

    __slots__ = ("coerced", "sources")

    def __init__(self, coerced: dict[str, Any]) -> None:
        self.coerced = coerced
        self.sources: dict[str, Any] = {}


def _as_variables(operation: Operation) -> Any:
    return _Variables(operation.variables)


class Plan:
    """A compiled operation: its root fields and its variable definitions."""

    __slots__ = ("document_operation", "fragments", "name", "roots", "schema")

    def __init__(
        self,
        schema: GraphQLSchema,
        document_operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        roots: list[FieldPlan],
    ) -> None:
        self.schema = schema
        self.document_operation = document_operation
        self.fragments = fragments
        self.roots = roots
        #: the operation's own name, as the executor reports it when the request gave none
        self.name = document_operation.name.value if document_operation.name else None

    def coerce(self, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """The request's variables as the executor would coerce them (Fallback on errors)."""
        definitions = self.document_operation.variable_definitions or ()
        if not definitions:
            return {}
        coerced = get_variable_values(self.schema, definitions, dict(variables or {}))
        if isinstance(coerced, list):
            raise Fallback
        return dict(coerced.coerced)

    async def execute(self, context: Any, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``data`` of the answer (raises Fallback where the full path must answer)."""
        operation = Operation(
            self.schema, self.fragments, self.document_operation, self.coerce(variables), context
        )
        try:
            data = _fields(self.roots, None, operation)
            if _is_awaitable(data):
                data = await data
        except Fallback:
            raise
        except Exception:  # the full path reports it, masked and coded
            raise Fallback from None
        return data


def _fields(plans: list[FieldPlan], source: Any, operation: Operation) -> Resolved:
    """One object's selections: every field is called before any is awaited. (The common
    field, an attribute holding a string or a boolean, costs no Python call of its own.)"""
    out: dict[str, Any] = {}
    pending: list[tuple[str, Awaitable[Any]]] | None = None
    for plan in plans:
        attribute = plan.attribute
        if attribute is not None:
            value = attribute(source)
            if type(value) is plan.passes:
                out[plan.key] = value
                continue
        else:
            value = plan.getter(source, operation)
            if _is_awaitable(value):
                value = _then(value, plan.complete, operation)
                if pending is None:
                    pending = []
                pending.append((plan.key, value))
                out[plan.key] = None
                continue
        value = plan.complete(value, operation)
        if plan.may_wait and _is_awaitable(value):
            if pending is None:
                pending = []
            pending.append((plan.key, value))
            value = None
        out[plan.key] = value
    if pending is None:
        return out
    return _settle(out, pending)


async def _then(value: Awaitable[Any], complete: Callable[[Any, Operation], Any], op: Any) -> Any:
    result = complete(await value, op)
    if _is_awaitable(result):
        result = await result
    return result


async def _settle(out: dict[str, Any], pending: list[tuple[str, Awaitable[Any]]]) -> Any:
    if len(pending) == 1:
        key, awaitable = pending[0]
        out[key] = await awaitable
        return out
    values = await _gather([awaitable for _, awaitable in pending])
    for (key, _), value in zip(pending, values, strict=True):
        out[key] = value
    return out


async def _gather(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """All of them, or on the first failure the rest cancelled and awaited (no orphans)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# ------------------------------------------------------------------------------ compiling


def compile_plan(schema: GraphQLSchema, document: Any, operation_name: str | None) -> Plan | None:
    """The plan for one operation of a validated document, or None when plans do not cover
    it (then the full path answers every request of it)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    if operation.directives or any(v.directives for v in operation.variable_definitions or ()):
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    if root is None:
        return None
    try:
        roots = _compile_selections(schema, fragments, root, operation.selection_set, None)
    except NotCompilable:
        return None
    return Plan(schema, operation, fragments, roots)


def _collect(
    fragments: dict[str, FragmentDefinitionNode],
    selection_set: SelectionSetNode,
    into: dict[str, FieldNode],
) -> None:
    """The fields of a selection set on an object type, through fragments (on an object
    type every fragment that passed validation applies)."""
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompilable
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            if key in into:  # merged selections: the executor's job
                raise NotCompilable
            into[key] = selection
        elif isinstance(selection, InlineFragmentNode):
            _collect(fragments, selection.selection_set, into)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives:
                raise NotCompilable
            _collect(fragments, fragment.selection_set, into)
        else:  # pragma: no cover (no other selection kinds)
            raise NotCompilable


def _compile_selections(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    parent: GraphQLObjectType,
    selection_set: SelectionSetNode,
    path: Path | None,
) -> list[FieldPlan]:
    nodes: dict[str, FieldNode] = {}
    _collect(fragments, selection_set, nodes)
    return [
        _compile_field(schema, fragments, parent, key, node, Path(path, key, parent.name))
        for key, node in nodes.items()
    ]


def _compile_field(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    parent: GraphQLObjectType,
    key: str,
    node: FieldNode,
    path: Path,
) -> FieldPlan:
    name = node.name.value
    if name == "__typename":
        plan = FieldPlan(key=key, node=node, parent=parent, definition=None, path=path)
        typename = parent.name
        plan.getter = lambda source, operation: typename
        return plan
    if name.startswith("__"):
        raise NotCompilable
    definition = parent.fields.get(name)
    if definition is None:
        raise NotCompilable
    plan = FieldPlan(key=key, node=node, parent=parent, definition=definition, path=path)
    _choose_getter(plan, definition)
    plan.complete = _completer(schema, fragments, definition.type, node, path)
    leaf = get_nullable_type(definition.type)
    plan.may_wait = not is_leaf_type(leaf)
    if plan.attribute is not None and is_leaf_type(leaf):
        plan.passes = _PASSES_AS_IS.get(leaf.serialize)
    return plan


def _choose_getter(plan: FieldPlan, definition: GraphQLField) -> None:
    """The cheapest getter that gives what the schema's resolver would."""
    strawberry_field = definition.extensions.get("strawberry-definition")
    resolve = definition.resolve
    if strawberry_field is None or plan.arguments:
        return
    if getattr(resolve, "_is_default", False):  # Strawberry's basic field: an attribute
        plan.attribute = attrgetter(strawberry_field.python_name)
        plan.getter = lambda source, operation: plan.attribute(source)  # type: ignore[misc]
        return
    node_id = _relay_id_getter(strawberry_field, plan.parent)
    if node_id is not None:
        plan.getter = node_id


def _relay_id_getter(strawberry_field: Any, parent: GraphQLObjectType) -> Any:
    """``id: relay.NodeID[...]`` of a type that keeps ``Node``'s own id and type-name
    resolution: the global id is ``to_base64(type name, attribute)``, as ``Node._id``
    builds it."""
    definition = parent.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if strawberry_field.origin is not relay.Node or strawberry_field.python_name != "_id":
        return None
    if not (isinstance(origin, type) and issubclass(origin, relay.Node)):
        return None
    for method in ("resolve_id", "resolve_typename"):
        if getattr(origin, method).__func__ is not getattr(relay.Node, method).__func__:
            return None
    attribute = origin.resolve_id_attr()
    type_name = parent.name

    def global_id(source: Any, operation: Operation) -> str:
        if not isinstance(source, origin):
            raise Fallback
        return relay.to_base64(type_name, getattr(source, attribute))

    return global_id


def _completer(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    type_: GraphQLOutputType,
    node: FieldNode,
    path: Path,
) -> Callable[[Any, Operation], Resolved]:
    if isinstance(type_, GraphQLNonNull):
        if is_leaf_type(type_.of_type):
            return _leaf(type_.of_type, nullable=False)
        inner = _completer(schema, fragments, type_.of_type, node, path)

        def non_null(value: Any, operation: Operation) -> Resolved:
            if value is None:
                raise Fallback
            return inner(value, operation)

        return non_null
    if isinstance(type_, GraphQLList):
        item = _completer(schema, fragments, type_.of_type, node, path)

        def listed(value: Any, operation: Operation) -> Resolved:
            if value is None:
                return None
            if isinstance(value, (str, bytes, Mapping)):
                raise Fallback
            items = [item(element, operation) for element in value]
            waiting = [i for i, element in enumerate(items) if _is_awaitable(element)]
            if not waiting:
                return items
            return _settle_list(items, waiting)

        return listed
    if is_leaf_type(type_):
        return _leaf(type_, nullable=True)
    if isinstance(type_, GraphQLObjectType):
        if node.selection_set is None:
            raise NotCompilable
        children = _compile_selections(schema, fragments, type_, node.selection_set, path)

        def obj(value: Any, operation: Operation) -> Resolved:
            if value is None:
                return None
            return _fields(children, value, operation)

        return obj
    raise NotCompilable  # interfaces and unions: the executor resolves the runtime type


#: Built-in scalars whose ``serialize`` returns a value of this exact type unchanged.
_PASSES_AS_IS: dict[Callable[[Any], Any], type] = {
    GraphQLString.serialize: str,
    GraphQLID.serialize: str,
    GraphQLBoolean.serialize: bool,
}


def _leaf(type_: Any, *, nullable: bool) -> Callable[[Any, Operation], Any]:
    """A scalar or enum value as the executor serialises it (a null where the schema
    promises a value is the executor's error to report). An enum member is looked up in a
    table built once (Strawberry's ``serialize`` scans the values on every call)."""
    serialize = type_.serialize
    passes = _PASSES_AS_IS.get(serialize)
    names = _enum_names(type_)

    def leaf(value: Any, operation: Operation) -> Any:
        if value is None:
            if nullable:
                return None
            raise Fallback
        if type(value) is passes:  # what the scalar's serialize would return unchanged
            return value
        if names is not None:
            name = names.get(value)
            if name is not None:
                return name
        serialized = serialize(value)
        if serialized is Undefined or serialized is None:
            raise Fallback
        return serialized

    return leaf


def _enum_names(type_: Any) -> dict[enum.Enum, str] | None:
    """Python enum member -> GraphQL name, for an enum type wrapping a Python enum."""
    wrapped = getattr(type_, "wrapped_cls", None)
    if not (isinstance(type_, GraphQLEnumType) and isinstance(wrapped, type)):
        return None
    if not issubclass(wrapped, enum.Enum):
        return None
    by_value = {value.value: name for name, value in type_.values.items()}
    return {member: by_value[member.value] for member in wrapped if member.value in by_value}


async def _settle_list(items: list[Any], waiting: list[int]) -> list[Any]:
    values = await _gather([items[i] for i in waiting])
    for index, value in zip(waiting, values, strict=True):
        items[index] = value
    return items
