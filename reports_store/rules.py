"""The shapes of the identifiers the whole system shares, written once.

Every model that carries one of these (the store's records, the API's request bodies, the CLI's
options) uses these annotated types, so a rule is checked wherever a value is built and stated in
the OpenAPI document as the same `pattern`/`maxLength`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
PHONE_PATTERN = r"^\+[1-9][0-9]{1,14}$"
IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)
PHONE_RE = re.compile(PHONE_PATTERN)
IDENTIFIER_HELP = "1-128 characters of letters, digits and . _ : -"
PHONE_HELP = "E.164 form: + then 2-15 digits, the first not 0"

# What a value that fails one of these patterns should have looked like, for error messages.
PATTERN_HELP = {
    IDENTIFIER_PATTERN: f"must be {IDENTIFIER_HELP}",
    PHONE_PATTERN: f"is not in {PHONE_HELP}",
}

# Opaque ids of organizations and broker nodes.
Identifier = Annotated[
    str, Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN, description=IDENTIFIER_HELP)
]
# Excluded caller numbers: E.164 shape only (exact string match against the session's user_number).
PhoneNumber = Annotated[
    str, Field(min_length=3, max_length=16, pattern=PHONE_PATTERN, description=PHONE_HELP)
]


class UnknownTimezone(ValueError):
    """Not a tz database name; the message says what to give instead."""


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """The tz database's zone names: available_timezones() walks the tzdata tree (milliseconds)."""
    return frozenset(available_timezones())


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The tz database zone `name`, or UnknownTimezone with a helpful message."""
    try:
        if name not in _zone_names() and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(
            f"Unknown timezone {name!r}: use a tz database name such as 'America/Chicago' or 'UTC'"
        ) from None


def _check_timezone(name: str) -> str:
    zone(name)
    return name


# A tz database name such as America/Chicago.
TimezoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, description="tz database name, e.g. America/Chicago"),
    AfterValidator(_check_timezone),
]
