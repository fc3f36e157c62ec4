"""Automatic persisted queries, Apollo's APQ protocol.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}``. Without a
``query``, the document registered under ``H`` runs, or the answer is
``PERSISTED_QUERY_NOT_FOUND`` and the client sends the same request again with the
``query``: that registers it, once its SHA-256 is checked against ``H``
(``PERSISTED_QUERY_HASH_MISMATCH`` otherwise). A hash-only GET is a cacheable URL for a
query (a mutation over GET stays 405). ``STRIDEGRAPH_PERSISTED_QUERIES=false`` answers
``PERSISTED_QUERY_NOT_SUPPORTED``, after which Apollo Client stops sending hashes.

The store is a bounded LRU per worker, not a database table: the protocol already treats a
miss as normal (one extra round trip, then the client re-registers), so a restart, another
worker or an eviction costs one request, never an error; a table would cost a write per
registration and a read per request on the hot path, and a place anyone can fill. The
bound is both a count (``PERSISTED_QUERIES_SIZE``) and :data:`MAX_STORED_CHARACTERS` in all,
so a client registering large documents cannot grow a worker's memory.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

from stridegraph.graph.edge import BadRequest, RequestError
from stridegraph.graph.request_codes import (
    PERSISTED_QUERY_HASH_MISMATCH,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_NOT_SUPPORTED,
)

EXTENSION = "persistedQuery"
VERSION = 1
#: All registered documents of one worker together, in characters.
MAX_STORED_CHARACTERS = 8 * 1024 * 1024
#: The answers that make a client fall back must not be cached by anything on the way.
_NO_STORE = {"cache-control": "private, no-cache, must-revalidate"}
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueries:
    """The per-worker store, and the protocol's checks on one request."""

    def __init__(self, enabled: bool, size: int) -> None:
        self.enabled = enabled
        self.size = size
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._characters = 0

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> tuple[str, str]:
        """The request's document and what happened (``hit`` or ``registered``), for a
        request that carries ``extensions.persistedQuery``; RequestError otherwise."""
        persisted = (extensions or {}).get(EXTENSION)
        if not self.enabled:
            raise RequestError(
                200, "PersistedQueryNotSupported", PERSISTED_QUERY_NOT_SUPPORTED, _NO_STORE
            )
        digest = _checked_hash(persisted)
        if query is None:
            document = self._documents.get(digest)
            if document is None:
                raise RequestError(
                    200, "PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND, _NO_STORE
                )
            self._documents.move_to_end(digest)
            return document, "hit"
        if hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest() != digest:
            raise BadRequest(
                "The persisted query's sha256Hash is not the SHA-256 of its query.",
                PERSISTED_QUERY_HASH_MISMATCH,
            )
        self._store(digest, query)
        return query, "registered"

    def _store(self, digest: str, query: str) -> None:
        if len(query) > MAX_STORED_CHARACTERS:
            return  # runs, but every later hash-only request is a miss: still the protocol
        previous = self._documents.pop(digest, None)
        if previous is not None:
            self._characters -= len(previous)
        self._documents[digest] = query
        self._characters += len(query)
        while len(self._documents) > self.size or self._characters > MAX_STORED_CHARACTERS:
            _, evicted = self._documents.popitem(last=False)
            self._characters -= len(evicted)

    def __len__(self) -> int:
        return len(self._documents)


def asks_for_persisted(extensions: object) -> bool:
    return isinstance(extensions, dict) and extensions.get(EXTENSION) is not None


def _checked_hash(persisted: object) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != VERSION:
        raise BadRequest(f"Only persisted query version {VERSION} is supported.")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise BadRequest("The persisted query's sha256Hash must be 64 hexadecimal digits.")
    return digest.lower()
