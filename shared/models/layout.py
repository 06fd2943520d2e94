"""Wire arrays written from the wire structs: list displays generated from ``__struct_fields__``.

Why generated: the wire structs (``shared.models.messages``: ``TradeEv`` ...) are
the one declaration of each array's layout, and the feed's hot loop
(``shared.models.arrays.build``) must still build each array as one inline list
display (a call per event would cost it ~10 %). So the displays are written from
the structs when ``events`` loads and compiled into its namespace; tracebacks
show the generated lines.
"""

from __future__ import annotations

import linecache
from typing import Any


def display(code: str, wire: Any, upstream: Any, sources: dict[str, str]) -> str:
    """The list display of one kind's wire array: ``[code, <field>, ...]`` in ``wire``'s field order.
    A field takes ``sources[field]`` (an expression) else the ``upstream`` struct's field of that
    name (``e.<field>``); a field with neither is a TypeError (loud at import, never a shorter array)."""
    items = [repr(code)]
    for f in wire.__struct_fields__:
        if f not in sources and f not in upstream.__struct_fields__:
            raise TypeError(f"wire field {code}.{f} has no source in the {upstream.__name__} struct")
        items.append(sources.get(f, f"e.{f}"))
    return "[" + ", ".join(items) + "]"


def compile_into(namespace: dict, src: str, name: str) -> Any:
    """Compile generated source into ``namespace`` (a module's globals) and return ``name`` from it."""
    filename = f"<{namespace.get('__name__', '?')}.{name}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), namespace)  # noqa: S102 - our own source, from the structs
    return namespace[name]
