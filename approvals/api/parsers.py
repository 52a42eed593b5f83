"""Request body parsers that turn every malformed body into a 400, never a 500."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

# Deeper than any real recipe or inputs; a guard against stack exhaustion.
MAX_DEPTH = 40
MAX_TEXT_BYTES = 1_000_000
# json.loads joins escaped pairs into one character; what is left of this range is unpaired.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def check_clean(value: Any, depth: int = 0) -> None:
    """Refuse NUL characters (PostgreSQL cannot store them), unpaired surrogates
    (``"\\ud800"``: no UTF-8 encodes them, so neither the database nor a response
    echoing them could) and absurd nesting."""
    if depth > MAX_DEPTH:
        raise ParseError(f"The body is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str):
        if "\x00" in value:
            raise ParseError("The body contains a NUL character.")
        if _SURROGATE.search(value):
            raise ParseError("The body contains an unpaired UTF-16 surrogate (\\ud800-\\udfff).")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_clean(key, depth + 1)
            check_clean(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_clean(item, depth + 1)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, strict: no NaN/Infinity, no overflowing floats, no NUL
    characters, no recursion bombs. Every failure is a ParseError (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read() if stream is not None else b""
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except (ValueError, RecursionError, UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
        check_clean(data)
        return data


class YAMLTextParser(BaseParser):
    """``Content-Type: application/yaml``: the body is passed on as text, unparsed
    (the recipe parser reads it, with line numbers for its errors)."""

    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> str:
        raw = stream.read(MAX_TEXT_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_TEXT_BYTES:
            raise ParseError(f"The recipe is larger than {MAX_TEXT_BYTES} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The recipe is not UTF-8 text.") from None
        if "\x00" in text:
            raise ParseError("The recipe contains a NUL character.")
        return text


class YAMLTextAliasParser(YAMLTextParser):
    media_type = "text/yaml"
