"""The SDL speaks to clients: no build history in it, and every type, field, argument and
enum value of ours described."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from stridegraph.db import enums
from stridegraph.graph.enums import Gender, described_enum
from stridegraph.graph.history.types import DataExportState
from stridegraph.graph.schema import build_schema
from stridegraph.graph.users.inputs import OrderDirection
from tests.conftest import make_settings

#: Types whose own description is not ours to give (the roots, federation's link types);
#: the roots' fields and arguments are ours and are counted.
UNDESCRIBED_TYPES = {"Query", "Mutation", "link__Purpose", "link__Import"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: Any) -> Any:
    return build_schema(make_settings("sqlite+aiosqlite://", tmp_path_factory.mktemp("d")))._schema


def ours(schema: Any) -> dict[str, Any]:
    return {
        n: t
        for n, t in schema.type_map.items()
        if not n.startswith("_") and not n.startswith("link__")
    }


def test_every_type_has_a_description(schema) -> None:
    undescribed = [n for n, t in ours(schema).items() if not t.description]
    assert sorted(set(undescribed) - UNDESCRIBED_TYPES) == []


def test_no_description_tells_how_the_api_was_built() -> None:
    sdl = (Path(__file__).resolve().parents[1] / "schema.graphql").read_text()
    docs = " ".join(re.findall(r'"""(.*?)"""', sdl, flags=re.S))
    for word in ("seeds?", "issues?", "TODO", "refactor(ed|ing)?"):  # whole words: "issuer" is fine
        assert not re.search(rf"\b{word}\b", docs, flags=re.I), word


def test_every_field_argument_and_enum_value_is_described(schema) -> None:
    missing = []
    for name, kind in ours(schema).items():
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in kind.fields.items():
                if field_name.startswith("_"):  # federation's _entities, _service
                    continue
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in kind.values.items() if not value.description]
    assert missing == []


def test_described_enum_refuses_a_description_for_no_member() -> None:
    class Sample(enum.Enum):
        ONE = "one"

    with pytest.raises(ValueError, match="TWO"):
        described_enum(Sample, name="Sample", description="A sample.", values={"TWO": "Two."})


def test_described_enums_keep_their_members_and_values() -> None:
    """The texts live on the GraphQL definition only: the stored enums' names and values,
    and the members built from stored values, are what they were."""
    assert [(m.name, m.value) for m in Gender] == [(m.name, m.value) for m in enums.Gender]
    assert Gender is enums.Gender and Gender("female") is enums.Gender.FEMALE
    assert DataExportState("ready").value == "ready"
    assert OrderDirection("desc") is OrderDirection.DESC
