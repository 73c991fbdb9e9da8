"""Whole tool calls from the fragments a streaming model sends them in.

Providers stream tool calls in different ways (see `ToolCallAssembler`); the matching rules live
here so the gateway treats every provider alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A tool call as the model wrote it; `arguments` is raw JSON text and may be invalid."""

    id: str
    name: str
    arguments: str


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Joins streamed tool-call fragments into whole calls.

    Fragments are matched by `index`; a provider that repeats the id on every fragment, omits the
    index, or reuses index 0 for parallel calls with new ids is handled too.
    """

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._by_index: dict[int, _PartialCall] = {}

    def add(self, fragment: Any) -> None:
        """Take one fragment (an object or a dict): a new call, or more of one already seen."""
        index = _field(fragment, "index")
        call_id = _field(fragment, "id") or ""
        function = _field(fragment, "function")
        name = (_field(function, "name") or "") if function is not None else ""
        piece = (_field(function, "arguments") or "") if function is not None else ""
        found = self._find(index if isinstance(index, int) else None, call_id)
        call = found if found is not None else _PartialCall()
        if found is None:
            self._calls.append(call)
        if isinstance(index, int):
            self._by_index[index] = call
        call.id = call.id or call_id
        call.name = call.name or name
        if piece:
            call.arguments.append(piece)

    def _find(self, index: int | None, call_id: str) -> _PartialCall | None:
        if call_id:
            for call in self._calls:
                if call.id == call_id:
                    return call
        if index is not None:
            known = self._by_index.get(index)
            if known is not None and call_id and known.id and known.id != call_id:
                return None  # a new call that reuses an index (seen with some providers)
            return known
        if not call_id and self._calls:
            return self._calls[-1]
        return None

    def result(self) -> tuple[ToolCall, ...]:
        """The calls in the order they began; one sent without an id gets a fresh one."""
        return tuple(
            ToolCall(
                id=call.id or f"call_{secrets.token_hex(12)}",
                name=call.name,
                arguments="".join(call.arguments),
            )
            for call in self._calls
        )


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)
