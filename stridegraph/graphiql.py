"""GraphiQL as stridegraph's own page: its title, every asset served by stridegraph at a
versioned URL (see ``assets``), and headers that keep it to those assets.

The page has no inline script (the set-up is ``static/graphiql/stridegraph-graphiql.js``),
so the Content-Security-Policy allows scripts from this origin only. Styles also allow
``'unsafe-inline'``: GraphiQL's dialogs insert ``<style>`` elements (react-remove-scroll)
and CodeMirror's search bar sets ``style`` attributes; a style cannot run code. Requests go
to this origin only (``connect-src 'self'``), and no other site may frame the page.
"""

from __future__ import annotations

import functools
import html

from starlette.responses import HTMLResponse

from stridegraph.assets import asset_integrity, asset_url

TITLE = "stridegraph GraphiQL"

#: In load order; the last one starts GraphiQL. Third-party files (GraphiQL, React, the
#: explorer plugin, their licences) are under ``graphiql/vendor/``, as they were released.
SCRIPTS = (
    "graphiql/vendor/react.production.min.js",
    "graphiql/vendor/react-dom.production.min.js",
    "graphiql/vendor/graphiql.min.js",
    "graphiql/vendor/plugin-explorer.umd.js",
    "graphiql/stridegraph-graphiql.js",
)
STYLES = (
    "graphiql/vendor/graphiql.min.css",
    "graphiql/vendor/plugin-explorer.css",
    "graphiql/stridegraph-graphiql.css",
)
ICON = "graphiql/favicon.svg"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

#: The page is small and names versioned assets: a minute of caching is plenty, and a new
#: release is seen within that minute. ``Vary: Accept``: ``GET /graphql`` also answers
#: queries, as JSON.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=60",
    "Vary": "Accept",
}


def _tag(name: str, template: str) -> str:
    return template.format(
        url=html.escape(asset_url(name)), integrity=html.escape(asset_integrity(name))
    )


@functools.cache
def graphiql_html() -> str:
    """The page, built once per process (the assets do not change while it runs)."""
    styles = "\n".join(
        _tag(name, '    <link rel="stylesheet" href="{url}" integrity="{integrity}" />')
        for name in STYLES
    )
    scripts = "\n".join(
        _tag(name, '    <script src="{url}" integrity="{integrity}"></script>') for name in SCRIPTS
    )
    icon = html.escape(asset_url(ICON))
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>{TITLE}</title>
    <link rel="icon" type="image/svg+xml" href="{icon}" />
{styles}
  </head>
  <body>
    <div id="graphiql">Loading…</div>
{scripts}
  </body>
</html>
"""


def graphiql_response() -> HTMLResponse:
    return HTMLResponse(graphiql_html(), headers=PAGE_HEADERS)
