"""JSON as the standard defines it: no NaN or Infinity, which Python's parser allows
but PostgreSQL's JSON type refuses (a stored alert must be storable everywhere)."""

from __future__ import annotations

import json
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str) -> Any:
    """Parse a request body; ValueError (or UnicodeDecodeError) when it is not JSON."""
    return json.loads(raw, parse_constant=_refuse_constant)
