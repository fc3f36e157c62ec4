"""What an operation selects below the field being resolved, so a resolver can fetch in one
statement what a child field will ask for (a listing's ``totalCount`` with its page)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def _included(selection: Any) -> bool:
    """``@skip``/``@include`` as the executor will apply them (their arguments come with
    variables already substituted)."""
    directives = selection.directives or {}
    if directives.get("skip", {}).get("if") is True:
        return False
    return directives.get("include", {}).get("if") is not False


def _names(selections: Iterable[Any]) -> Iterable[str]:
    for selection in selections:
        if not _included(selection):
            continue
        if isinstance(selection, SelectedField):
            yield selection.name
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _names(selection.selections)


def selects(info: Info, name: str) -> bool:
    """True when the field being resolved has ``name`` among its direct sub-selections
    (through fragments too). Only a hint: a child field must still work when it is wrong."""
    return any(name in _names(field.selections) for field in info.selected_fields)
