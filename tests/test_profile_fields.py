"""One source of truth for the profile (``domain/profile_fields``): the inputs of
``updateMe``, ``updateUser``, ``createUser`` and ``signUp`` and the ``User`` / ``UserMe``
types carry every declared field with its declared description, validation takes its
bounds and null rule from it; and the user types read their row lazily."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import GraphQLNonNull

from stridegraph.db.enums import AccessType
from stridegraph.db.models import User as UserRow
from stridegraph.domain import validation
from stridegraph.domain.errors import Collector, ErrorCode
from stridegraph.domain.profile_fields import PROFILE
from stridegraph.domain.viewer import Viewer
from stridegraph.graph.errors import camel
from stridegraph.graph.schema import build_schema
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def schema(tmp_path_factory: Any) -> Any:
    settings = make_settings("sqlite+aiosqlite://", tmp_path_factory.mktemp("d"))
    return build_schema(settings)._schema


INPUTS = {
    "UpdateMeInput": {f.name for f in PROFILE} - {"email"},
    "UpdateUserInput": {f.name for f in PROFILE},
    "CreateUserInput": {f.name for f in PROFILE},
    "SignUpInput": {f.name for f in PROFILE},
}


@pytest.mark.parametrize("input_name", sorted(INPUTS))
def test_every_input_takes_the_declared_fields_with_their_descriptions(schema, input_name):
    fields = schema.type_map[input_name].fields
    for declared in PROFILE:
        if declared.name not in INPUTS[input_name]:
            assert camel(declared.name) not in fields
            continue
        field = fields[camel(declared.name)]
        if declared.name == "preferred_language" and input_name == "SignUpInput":
            continue  # also says which mail it sets; tested in test_signup
        required = isinstance(field.type, GraphQLNonNull)
        wanted = declared.description if required else declared.input_description()
        assert field.description == wanted, (input_name, declared.name)


@pytest.mark.parametrize("type_name", ["User", "UserMe"])
def test_both_user_types_have_the_declared_fields(schema, type_name):
    fields = schema.type_map[type_name].fields
    for declared in PROFILE:
        assert declared.description in fields[camel(declared.name)].description


def test_validation_takes_bounds_and_null_rules_from_the_declaration():
    for declared in PROFILE:
        assert (declared.name in validation.NOT_NULL) is not declared.nullable
        if declared.bounds is None:
            continue
        low, high = declared.bounds
        for value, ok in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
            errors = Collector()
            validation.check_profile(errors, {declared.name: value}, today=None)  # type: ignore[arg-type]
            codes = [p.code for p in errors.problems]
            assert codes == ([] if ok else [ErrorCode.OUT_OF_RANGE]), (declared.name, value)


def _context(viewer: Viewer | None) -> Any:
    settings = SimpleNamespace(public_url="https://example.org")
    return SimpleNamespace(viewer=viewer, services=SimpleNamespace(settings=settings))


def test_the_types_show_the_row_and_mask_for_others():
    from stridegraph.graph.users.types import PRIVATE_FIELDS, User, UserMe

    row = UserRow(id=7, username="ana", name="Ana", email="ana@example.com", height=170)
    row.access_type = AccessType.REGULAR
    other = Viewer(user=UserRow(id=8, access_type=AccessType.REGULAR), scopes=frozenset())
    row.photo_path = "ab/abcdef0123456789.webp"
    seen_by_other = User.of(row, _context(other))
    own = UserMe.of(row, _context(other))
    # a view holds the row's columns as they were when it was made (copied in one C-level
    # step: no Python work per field); the photo URL is computed when it is asked for
    row.name = "Ana B."
    assert (seen_by_other.name, own.name) == ("Ana", "Ana")
    assert seen_by_other.photo_url == "https://example.org/photos/7?v=abcdef0123456789"
    assert all(getattr(seen_by_other, name) is None for name in PRIVATE_FIELDS)
    assert (own.email, own.height) == ("ana@example.com", 170)
    assert seen_by_other.id == 7 and own.id == "VXNlcjo3"
    admin = Viewer(user=UserRow(id=9, access_type=AccessType.ADMIN), scopes=frozenset())
    assert User.of(row, _context(admin)).email == "ana@example.com"
    assert User.of(row, _context(None)).email is None
