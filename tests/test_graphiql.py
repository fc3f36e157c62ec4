"""GraphiQL as a product page (issue 14, point 5), at the HTTP level: stridegraph's title,
a CSP that allows only its own assets, nosniff, no framing; versioned asset URLs cached for
a year, everything else revalidated; gzip for the assets and for large JSON."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from graphql import get_introspection_query

HTML = {"accept": "text/html"}
YEAR = "public, max-age=31536000, immutable"


async def page(http: httpx.AsyncClient) -> httpx.Response:
    response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    return response


def directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in csp.split("; ")}


async def test_the_page_is_stridegraphs_and_allows_only_its_own_assets(
    http: httpx.AsyncClient,
) -> None:
    response = await page(http)
    assert "<title>stridegraph GraphiQL</title>" in response.text
    assert "Strawberry" not in response.text
    csp = directives(response.headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"  # no inline script at all, so no hashes either
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "accept" in response.headers["vary"].lower()
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert len(scripts) >= 4 and all('src="/static/' in attrs for attrs in scripts)
    assert "<style" not in response.text and " style=" not in response.text
    assert "http://" not in response.text and "https://" not in response.text


async def test_assets_have_versioned_urls_cached_for_a_year(http: httpx.AsyncClient) -> None:
    text = (await page(http)).text
    tags = re.findall(
        r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]{16})"(?: integrity="([^"]+)")?', text
    )
    assert len(tags) >= 7, text  # five scripts, three styles, the icon
    for path, version, integrity in tags:
        response = await http.get(f"{path}?v={version}")
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == YEAR, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert hashlib.sha256(response.content).hexdigest()[:16] == version
        if integrity:
            digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            assert integrity == f"sha384-{digest}", path
        # no version, or one from another release: served, but revalidated every time
        for stale in (path, f"{path}?v=0123456789abcdef"):
            again = await http.get(stale)
            assert again.status_code == 200 and again.headers["cache-control"] == "no-cache"


async def raw_size(http: httpx.AsyncClient, method: str, url: str, **kw: object) -> tuple[int, str]:
    """Bytes on the wire (not decoded) and the Content-Encoding."""
    async with http.stream(method, url, **kw) as response:  # type: ignore[arg-type]
        assert response.status_code == 200
        size = sum([len(chunk) async for chunk in response.aiter_raw()])
        return size, response.headers.get("content-encoding", "identity")


async def test_assets_and_large_json_are_compressed_when_asked(http: httpx.AsyncClient) -> None:
    text = (await page(http)).text
    script = re.search(r'src="(/static/graphiql/vendor/graphiql\.min\.js\?v=[0-9a-f]+)"', text)
    assert script is not None
    plain, plain_encoding = await raw_size(
        http, "GET", script[1], headers={"accept-encoding": "identity"}
    )
    packed, encoding = await raw_size(http, "GET", script[1], headers={"accept-encoding": "gzip"})
    assert plain_encoding == "identity" and encoding == "gzip"
    assert packed < plain / 3, (packed, plain)
    # the decoded body is the file itself
    full = await http.get(script[1], headers={"accept-encoding": "gzip"})
    assert len(full.content) == plain

    query = {"query": get_introspection_query()}
    packed_json, json_encoding = await raw_size(
        http, "POST", "/graphql", json=query, headers={"accept-encoding": "gzip"}
    )
    plain_json, _ = await raw_size(
        http, "POST", "/graphql", json=query, headers={"accept-encoding": "identity"}
    )
    assert json_encoding == "gzip" and packed_json < plain_json / 3, (packed_json, plain_json)
    small = {"json": {"query": "{ __typename }"}, "headers": {"accept-encoding": "gzip"}}
    assert (await raw_size(http, "POST", "/graphql", **small))[1] == "identity"
