"""Structured logs: one JSON object per line on stdout (or plain text for a person at a terminal).

`configure_logging(settings)` is what `python -m service serve` and `scheduler` call instead of
`logging.basicConfig`: every logger of the process (the service's, uvicorn's, and dbt's events,
which `service.core.dbt_runner` sends to the `dbt` logger) goes through one handler and one
formatter. Each line has `ts`, `level`, `logger`, `msg`, the context that is known (`request_id`,
`org_id`, `job_id`) and the fields a call passed as `extra`. Secrets never reach the output: the
configured API key and ClickHouse password, access tokens and bearer credentials are masked in the
finished line, whatever logged them.
"""

from __future__ import annotations

import logging
import operator
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from service.core.config import Settings
from service.observability import context

MASK = "***"
# Access tokens (`cat_<id>_<secret>`, see service.access.tokens) and any bearer credential.
_SECRET_PATTERNS = (
    re.compile(r"cat_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
)
# Secrets shorter than this are not searched for: masking every "ab" in a log would be noise.
MIN_SECRET_LENGTH = 4
# LogRecord attributes that are not `extra` fields.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of msg
    "taskName",
}
_HANDLER_MARK = "_call_analytics_handler"


class Redactor:
    """Masks known secret values and secret-looking tokens in a finished log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        given = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        escaped = {orjson.dumps(s).decode()[1:-1] for s in given}  # as it reads inside a JSON line
        self.secrets = sorted(given | escaped, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "cat_" in text:
            text = _SECRET_PATTERNS[0].sub(f"cat_{MASK}", text)
        if "bearer" in text.lower():  # most lines: no regex pass at all
            text = _SECRET_PATTERNS[1].sub(rf"\g<1>{MASK}", text)
        return text

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        secrets = [settings.clickhouse_password.get_secret_value()]
        for secret in (settings.api_key, settings.notify_webhook_secret):
            if secret is not None:
                secrets.append(secret.get_secret_value())
        return cls(secrets)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_FIELDS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, context, extras, exc."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        exc = self.formatException(record.exc_info) if record.exc_info else None
        stack = self.formatStack(record.stack_info) if record.stack_info else None
        return self.redactor(
            self.render(
                timestamp(record.created),
                record.levelname,
                record.name,
                record.getMessage(),
                context.current(),
                _extras(record),
                exc,
                stack,
            )
        )

    def render(
        self,
        ts: str,
        level_name: str,
        logger_name: str,
        message: str,
        context_fields: dict[str, Any],
        extras: dict[str, Any],
        exc: str | None = None,
        stack: str | None = None,
    ) -> str:
        """The line of a record made of these parts (`ts`: its `timestamp`), not yet redacted
        (`emit_lines` and `LineTemplate` make lines without a record, redacted when written)."""
        line: dict[str, Any] = {
            "ts": ts,
            "level": level_name.lower(),
            "logger": logger_name,
            "msg": message,
            **context_fields,
        }
        for key, value in extras.items():
            line.setdefault(key, value)
        if exc:
            line["exc"] = exc
        if stack:
            line["stack"] = stack
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


# The last second and the last millisecond `timestamp` wrote out: most lines of a busy second share
# the one, the lines of one batch of the API's fast path often the other.
_second: tuple[int, str] = (-1, "")
_millisecond: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """`created` (a time.time() value) in UTC to the millisecond: 2026-11-27T16:40:12.123+00:00."""
    global _second, _millisecond
    milliseconds = int(created * 1000)
    cached = _millisecond  # one read: another thread may replace it meanwhile
    if cached[0] == milliseconds:
        return cached[1]
    second, millisecond = divmod(milliseconds, 1000)
    seconds = _second
    if seconds[0] != second:
        seconds = _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    text = f"{seconds[1]}.{millisecond:03d}+00:00"
    _millisecond = (milliseconds, text)
    return text


def emit_lines(
    logger: logging.Logger, level: int, lines: list[tuple[float, str, dict[str, Any], dict[str, Any]]]
) -> None:
    """`logger.log(level, message, extra=context | fields)` for each (created, message, context,
    fields), `created` its time.time(): the access lines of many requests
    (service.observability.http).

    When the lines go to configure_logging's JSON handler alone (no other handler, no filter on
    the way), they are rendered by that handler's formatter and written together under its lock,
    one write, without a LogRecord each. Anything else goes through logging, line by line."""
    if not lines or not logger.isEnabledFor(level):
        return
    handler = _sole_json_handler(logger, level)
    if handler is None:
        for _created, message, context_fields, fields in lines:  # logging stamps them itself
            logger.log(level, message, extra=context_fields | fields)
        return
    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]  # checked
    level_name = logging.getLevelName(level)
    try:
        text = "".join(
            formatter.render(timestamp(created), level_name, logger.name, message, context_fields, fields)
            + handler.terminator
            for created, message, context_fields, fields in lines
        )
    except Exception:  # as Handler.emit does: report, never raise into the caller
        handler.handleError(
            logging.makeLogRecord({"name": logger.name, "msg": lines[0][1], "levelno": level})
        )
        return
    write_lines(handler, text)


def write_lines(handler: logging.StreamHandler, text: str) -> None:
    """Lines rendered by `handler`'s JSON formatter, each ended by its terminator, written in one
    write once redacted (a redaction never spans lines: a secret has no line break in JSON)."""
    formatter: JsonFormatter = handler.formatter  # type: ignore[assignment]  # json_handler's
    try:
        text = formatter.redactor(text)
        with handler.lock:  # type: ignore[union-attr]  # StreamHandler has one
            handler.stream.write(text)
            handler.flush()
    except Exception:  # as Handler.emit does: report, never raise into the caller
        handler.handleError(logging.makeLogRecord({"msg": "writing log lines", "levelno": logging.ERROR}))


def slot(index: int) -> str:
    """A marker of a `LineTemplate`'s value: JSON leaves it as it is, and no identifier or path of
    a request has it."""
    return f"\u2063{index}\u2063"


class LineTemplate:
    """Lines of one shape, rendered once by the JSON formatter with markers where they differ:
    each line is then one %-format of the rest (the API fast path's access lines, by the thousand;
    str.format would parse the whole line's template again for every line, four times slower).

    `message`, `context_fields` and `fields` may hold `slot(n)` (n >= 1) inside text values, or be
    one (`raw`: a JSON number's text, without quotes). A line fills slot 0 (its time) and the
    others with text that reads the same inside a JSON string as outside (an identifier, a number)."""

    def __init__(
        self,
        formatter: JsonFormatter,
        level_name: str,
        logger_name: str,
        message: str,
        context_fields: dict[str, Any],
        fields: dict[str, Any],
        raw: tuple[int, ...] = (),
    ) -> None:
        text = formatter.render(slot(0), level_name, logger_name, message, context_fields, fields)
        for index in raw:
            text = text.replace(f'"{slot(index)}"', slot(index))
        literals = _SLOT.split(text.replace("%", "%%"))  # literal, slot index, literal, ...
        self._format = "%s".join(literals[0::2])
        self._order = operator.itemgetter(*(int(index) for index in literals[1::2]))

    def line(self, created: float, *values: str) -> str:
        return self._format % self._order((timestamp(created), *values))


_SLOT = re.compile("\u2063([0-9]+)\u2063")


def emit_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """`logger.log(level, message, extra=fields)` for a hot path (the access line of a request
    the app answered), in the current log context: `emit_lines` for one line."""
    emit_lines(logger, level, [(time.time(), message, context.current(), fields)])


def json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler | None:
    """The handler a line of `logger` at `level` reaches when that is configure_logging's JSON
    handler alone and nothing filters on the way (lines may then be written without a record)."""
    return _sole_json_handler(logger, level) if logger.isEnabledFor(level) else None


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler | None:
    """The one handler a record of `logger` would reach, if it is our JSON handler and nothing on
    the way filters; else None."""
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or level < handler.level:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent  # type: ignore[assignment]
    if (
        isinstance(found, logging.StreamHandler)
        and getattr(found, _HANDLER_MARK, False)
        and not found.filters
        and type(found.formatter) is JsonFormatter
    ):
        return found
    return None


class TextFormatter(logging.Formatter):
    """For a person at a terminal: time, level, logger, message, then the context and extras."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = context.current() | _extras(record)
        if fields:
            text += " [" + " ".join(f"{key}={value}" for key, value in fields.items()) + "]"
        return self.redactor(text)


def resolve_format(settings: Settings, stream: IO[str]) -> str:
    """LOG_FORMAT, else json unless the stream is a terminal."""
    if settings.log_format:
        return settings.log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger of the process through one handler on `stream` (stdout), in LOG_FORMAT.

    Idempotent: a second call replaces the handler the first one installed. uvicorn's loggers
    propagate to it (start uvicorn with `log_config=None` so it keeps them), and dbt's events come
    through the `dbt` logger instead of dbt printing them itself.
    """
    from service.core import dbt_runner

    stream = stream or sys.stdout
    redactor = Redactor.for_settings(settings)
    formatter = (
        TextFormatter(redactor) if resolve_format(settings, stream) == "text" else JsonFormatter(redactor)
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False) or _is_default(h)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)  # LOG_LEVEL decides (uvicorn.run may set its own after)
        uvicorn_logger.disabled = False
    logging.captureWarnings(True)
    dbt_runner.log_events_through_logging(True)
    return handler


def _is_default(handler: logging.Handler) -> bool:
    """A plain stream handler on stdout/stderr (what `logging.basicConfig` installs)."""
    return type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in (
        sys.stdout,
        sys.stderr,
        sys.__stdout__,
        sys.__stderr__,
    )
