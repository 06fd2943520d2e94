"""A string that never shows itself: the API key's type.

Why a type of its own: the key reaches settings from the environment or a file
and must never appear in a log line, a status reply, a child's argv or a
traceback. A ``Secret`` masks itself in repr/str/format, refuses pickling
(so it can't travel in a child's arguments by accident) and copies as itself.
"""

from __future__ import annotations


class Secret:
    """A string that never shows itself in repr/str/format."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickle the value into a child's argv/logs by accident
        raise TypeError("Secret cannot be pickled; pass it through the environment")

    # Immutable, so copies are the object itself (lets dataclasses.asdict/deepcopy
    # work on Settings without ever serialising the value).
    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo: dict) -> "Secret":
        return self
