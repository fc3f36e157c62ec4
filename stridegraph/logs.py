"""Structured JSON logs: one object per line, never a token, password or hash.

Fields passed with ``extra=`` become keys. Keys that could carry secrets are dropped, and
values are never formatted from request bodies. Exception traces are scrubbed of SQL
parameters (see :func:`format_exception`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.config
import re
import traceback
from types import TracebackType
from typing import Any

import orjson

# uvicorn passes ``color_message`` (its message with ANSI colour codes) to its own formatter
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
#: An incoming ``X-Request-Id`` we keep: what gateways and proxies generate (UUIDs, hex,
#: dotted or dashed ids), short enough for a log line, nothing that could forge a field.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: W3C trace context: version-traceid-parentid-flags; later versions may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
#: The request being served (request id, trace id), added to every line logged for it.
_REQUEST: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "stridegraph_request", default=None
)
_SECRET_WORDS = ("password", "token", "secret", "hash", "authorization", "cookie", "code")

# asyncpg puts the repr of a value it could not encode in its message ("invalid input for
# query argument $2: 'the value' (reason)"), which SQLAlchemy's hide_parameters cannot reach;
# and an engine made without hide_parameters would add "[parameters: ...]".
_ARGUMENT_VALUE = re.compile(r"(invalid input for query argument \$\d+:).*$", re.MULTILINE)
_PARAMETERS = re.compile(r"^\[parameters: .*$", re.MULTILINE)
_ARGUMENT_MARK = "invalid input for query argument"
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def scrub(text: str) -> str:
    """Remove SQL parameter values from an error message. (Each pattern is tried only on
    text holding its marker: every string of every request line passes through here.)"""
    if _ARGUMENT_MARK in text:
        text = _ARGUMENT_VALUE.sub(r"\1 <value hidden>", text)
    if "[parameters: " in text:
        text = _PARAMETERS.sub("[parameters hidden]", text)
    return text


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exception and its causes, oldest first, each with what ``traceback`` prints
    between it and the next one."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    after = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, after))
        if current.__cause__ is not None:
            current, after = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, after = current.__context__, _CONTEXT
        else:
            current = None
    return list(reversed(chain))


def _type_name(exc: BaseException) -> str:
    name, module = type(exc).__qualname__, type(exc).__module__
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def format_exception(exc_info: ExcInfo) -> str:
    """The trace as ``traceback`` prints it, with every message scrubbed. The cause of
    asyncpg's "invalid input for query argument" is the encoder's complaint about the value
    itself, so only its type is kept."""
    parts: list[str] = []
    chain = _chain(exc_info[1])
    for index, (exc, after) in enumerate(chain):
        effect = chain[index + 1][0] if index + 1 < len(chain) else None
        message = str(exc)
        if _ARGUMENT_MARK not in message and effect is not None and _ARGUMENT_MARK in str(effect):
            message = "<message hidden: about a query parameter>"
        message = scrub(message)
        if exc.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(exc.__traceback__))
        parts.append(f"{_type_name(exc)}: {message}\n" if message else f"{_type_name(exc)}\n")
        parts.append(after)
    return "".join(parts).rstrip("\n")


def request_id_from(header: str | None) -> str | None:
    """The client's (or gateway's) request id when it is one we can log as it is."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return None


def trace_id_from(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C ``traceparent`` header (version ``ff`` and all-zero ids
    are invalid; version 00 has exactly four fields)."""
    if traceparent is None:
        return None
    found = _TRACEPARENT.fullmatch(traceparent.strip())
    if found is None:
        return None
    version, trace_id, parent_id, _flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"}:
        return None
    if set(parent_id) == {"0"}:
        return None
    return trace_id


def bind_request(request_id: str, trace_id: str | None) -> contextvars.Token[Any]:
    """Every line logged until :func:`unbind_request` carries these ids."""
    return _REQUEST.set((request_id, trace_id))


def unbind_request(token: contextvars.Token[Any]) -> None:
    _REQUEST.reset(token)


#: Whether a record attribute goes into the line, by attribute name (a small, fixed set of
#: names: the code's ``extra=`` keys), decided once per name.
_KEPT: dict[str, bool] = {}


def _kept(key: str) -> bool:
    kept = _KEPT.get(key)
    if kept is None:
        kept = not (
            key in _STANDARD
            or key.startswith("_")
            or (any(word in key.lower() for word in _SECRET_WORDS) and key != "mail_kind")
        )
        if len(_KEPT) < 10_000:
            _KEPT[key] = kept
    return kept


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if not _kept(key):
                continue
            entry[key] = (
                value if isinstance(value, (int, float, bool, type(None))) else scrub(str(value))
            )
        bound = _REQUEST.get()
        if bound is not None:
            entry.setdefault("request_id", bound[0])
            if bound[1] is not None:
                entry.setdefault("trace_id", bound[1])
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry).decode()
        except TypeError:  # a lone surrogate, an integer wider than 64 bits
            return json.dumps(entry, ensure_ascii=False)

    def formatException(self, ei: Any) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        return format_exception(ei)


def logging_config(level: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` for the whole process: one JSON handler on stderr at the
    root, and uvicorn's loggers (``uvicorn``, ``uvicorn.error``, ``uvicorn.access``) sending
    to it rather than to their own coloured handlers. Given to uvicorn as ``log_config``, so
    each worker process applies it before uvicorn logs anything."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            "sqlalchemy": {"level": "WARNING"},
            "aiosqlite": {"level": "WARNING"},
        },
    }


def configure_logging(level: str) -> None:
    """JSON lines for everything, Python's warnings included (``py.warnings``), which
    would otherwise be printed raw to stderr."""
    logging.config.dictConfig(logging_config(level))
    logging.captureWarnings(True)
