"""Structured JSON logs: one object per line, never a token, password or hash.

Fields passed with ``extra=`` become keys. Keys that could carry secrets are dropped, and
values are never formatted from request bodies. Exception traces are scrubbed of SQL
parameters (see :func:`format_exception`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import traceback
from types import TracebackType
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
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
    """Remove SQL parameter values from an error message."""
    text = _ARGUMENT_VALUE.sub(r"\1 <value hidden>", text)
    return _PARAMETERS.sub("[parameters hidden]", text)


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
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS) and key != "mail_kind":
                continue
            entry[key] = (
                value if isinstance(value, (int, float, bool, type(None))) else scrub(str(value))
            )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

    def formatException(self, ei: Any) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        return format_exception(ei)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
