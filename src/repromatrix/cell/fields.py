"""Reading the record the scenario prints: one JSON object at a time, field by field into
Python types, where a field of the wrong type is a RecordError naming its path."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class RecordError(ValueError):
    """The scenario printed a record that is not one (a field missing its type): the cell's own
    fault is not pip's, so it is an infra-error naming the field."""


class Fields:
    """One JSON object of the record, read field by field into Python types; a wrong type is a
    RecordError naming the field's path (`record.upgrade.exit_code`)."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where

    def _wrong(self, key: str, wanted: str) -> RecordError:
        got = type(self.data[key]).__name__
        return RecordError(f"{self.where}.{key}: expected {wanted}, got {got}")

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def required_text(self, key: str) -> str:
        if key not in self.data:
            raise RecordError(f"{self.where}.{key}: missing (the scenario always writes it)")
        return self.text(key)

    def maybe_text(self, key: str) -> str | None:
        return self.text(key) if self.data.get(key) is not None else None

    def integer(self, key: str, default: int = 0) -> int:
        found = self.maybe_integer(key)
        return default if found is None else found

    def maybe_integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer")
        return value

    def number(self, key: str) -> float:
        value = self.data.get(key, 0)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise self._wrong(key, "a finite number")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.data.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self._wrong(key, "a list of strings")
        return tuple(values)

    def child(self, key: str) -> Fields | None:
        value = self.data.get(key)
        return None if value is None else Fields(value, f"{self.where}.{key}")

    def optional(self, key: str, read: Callable[[Fields], T]) -> T | None:
        """The object at `key` read by `read`, or None where the record has none."""
        found = self.child(key)
        return None if found is None else read(found)

    def children(self, key: str) -> list[Fields]:
        values = self.data.get(key) or []
        if not isinstance(values, list):
            raise self._wrong(key, "a list")
        return [Fields(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(values)]

    def numbers(self, key: str) -> dict[str, float]:
        """An object of finite numbers (seconds by stage)."""
        values = self.data.get(key) or {}
        if not isinstance(values, dict):
            raise self._wrong(key, "an object")
        inner = Fields({str(k): v for k, v in values.items()}, f"{self.where}.{key}")
        return {k: inner.number(k) for k in inner.data}

    def mapping(self, key: str) -> dict[str, Fields]:
        values = self.data.get(key) or {}
        if not isinstance(values, dict):
            raise self._wrong(key, "an object")
        return {str(k): Fields(v, f"{self.where}.{key}.{k}") for k, v in values.items()}
