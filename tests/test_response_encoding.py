"""Response bodies are encoded with orjson: valid JSON of the same shape."""

from __future__ import annotations

import json

from stridegraph.graph.edge import encode_json
from tests.helpers import login_token, make_user


async def test_response_is_orjson_encoded_valid_json_of_the_same_shape(http, services):
    user = await make_user(services, "zoe", name="Zoë Ångström")
    token = await login_token(services, user)
    response = await http.post(
        "/graphql",
        json={"query": "{ me { username name accessType } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.content)
    assert body == {
        "data": {"me": {"username": "zoe", "name": "Zoë Ångström", "accessType": "REGULAR"}}
    }
    # orjson writes UTF-8 as is (the standard encoder escaped it as \u00eb)
    assert "Zoë Ångström".encode() in response.content


def test_encode_json_falls_back_for_what_orjson_refuses() -> None:
    assert json.loads(encode_json({"a": [1, "é", None, True, 1.5]})) == {
        "a": [1, "é", None, True, 1.5]
    }
    assert json.loads(encode_json({"big": 2**70})) == {"big": 2**70}
