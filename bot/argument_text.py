"""A tool call's arguments in words, for the approval card: what will happen, not raw JSON.

Each argument is labelled with its schema title (or its name in words) and its value written by
type: text as given, numbers plain, Yes/No, lists joined or bulleted, objects shortened. After an
edit each changed argument reads `old → new`. Values come from the model and schemas from MCP
servers, so every piece is escaped; only the formatting written here is mrkdwn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.formatting import escape_mrkdwn

SHOWN_VALUE_CHARS = 300
SHOWN_NAME_CHARS = 100
SHOWN_DESCRIPTION_CHARS = 200
INLINE_LIST_CHARS = 80
"""A list of short items reads best on one line; a longer one is bulleted."""
SHOWN_ITEMS = 10
SHOWN_ITEM_CHARS = 100

EMPTY = "_(empty)_"
NOT_SET = "_(not set)_"
REMOVED = "_(removed)_"

_IDENTIFIER = re.compile(r"[A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]*")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class Value:
    """A value as the card writes it (mrkdwn), and whether part of it was left out."""

    text: str
    shortened: bool
    own_lines: bool = False
    """Starts on a line of its own after the label (bullets, text of several lines)."""


@dataclass(frozen=True)
class ShownArgument:
    """One argument's line on the card."""

    label: str
    """As a person reads it, not escaped (plain_text wants it so; mrkdwn escapes it)."""
    line: str
    """mrkdwn: `*Label:* value`, or `*Label:* ~old~ → new` when an edit changed it."""
    description: str | None
    """The schema's description, escaped mrkdwn; None when there is none worth showing."""
    changed: bool
    shortened: bool


def in_words(name: str) -> str:
    """`ticket_id` → "Ticket id", `dryRun` → "Dry run"; a name that is not an identifier
    stays as given (it may be anything, and changing it would hide what it is)."""
    if not _IDENTIFIER.fullmatch(name):
        return name
    spaced = _CAMEL_HUMP.sub(" ", name.replace("-", " ").replace("_", " "))
    words = [word if len(word) > 1 and word.isupper() else word.lower() for word in spaced.split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def label(name: str, spec: Mapping[str, Any]) -> str:
    """The schema's title when someone wrote one, else the name in words (shortened)."""
    return _shorten(_full_label(name, spec), SHOWN_NAME_CHARS)


def shown_arguments(
    arguments: Mapping[str, Any],
    schema: Mapping[str, Any],
    original: Mapping[str, Any] | None = None,
    *,
    limit: int,
) -> tuple[list[ShownArgument], int]:
    """The first `limit` arguments as lines, in the schema's order, and how many there are.

    With `original` (the arguments as proposed, before an edit), arguments the edit removed are
    listed too, and each changed one shows its old and new value.
    """
    properties = _properties(schema)
    before = original if original is not None else {}
    names = list(
        dict.fromkeys(
            [
                *(name for name in properties if name in arguments or name in before),
                *arguments,
                *before,
            ]
        )
    )
    shown = [
        _argument(name, properties.get(name, {}), arguments, original) for name in names[:limit]
    ]
    return shown, len(names)


def shown_value(raw: Any, limit: int = SHOWN_VALUE_CHARS) -> Value:
    """A value in words, escaped; about `limit` characters of it at most."""
    if isinstance(raw, bool):
        return Value("Yes" if raw else "No", False)
    if raw is None:
        return Value("_(none)_", False)
    if isinstance(raw, list):
        return _listed(raw, limit)
    if isinstance(raw, dict):
        return _nested(raw, limit)
    return _plain(_inline(raw), limit)


def _shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _argument(
    name: str,
    spec: Mapping[str, Any],
    arguments: Mapping[str, Any],
    original: Mapping[str, Any] | None,
) -> ShownArgument:
    full_label = _full_label(name, spec)
    shown_label = _shorten(full_label, SHOWN_NAME_CHARS)
    heading = f"*{escape_mrkdwn(shown_label)}:*"
    label_cut = shown_label != full_label
    description = _description(spec, shown_label)
    if original is None or _same(original, arguments, name):
        now = shown_value(arguments[name])
        return ShownArgument(
            shown_label,
            heading + ("\n" if now.own_lines else " ") + now.text,
            description,
            changed=False,
            shortened=now.shortened or label_cut,
        )
    old = shown_value(original[name], SHOWN_VALUE_CHARS // 2) if name in original else None
    new = shown_value(arguments[name], SHOWN_VALUE_CHARS // 2) if name in arguments else None
    old_text = _struck(old.text) if old else NOT_SET
    new_text = new.text if new else REMOVED
    if (old is not None and old.own_lines) or (new is not None and new.own_lines):
        line = f"{heading}\n{old_text}\n→\n{new_text}"
    else:
        line = f"{heading} {old_text} → {new_text}"
    cut = (old is not None and old.shortened) or (new is not None and new.shortened)
    return ShownArgument(shown_label, line, description, changed=True, shortened=cut or label_cut)


def _full_label(name: str, spec: Mapping[str, Any]) -> str:
    """pydantic titles every field from its name ("Ticket Id"): such a title adds nothing."""
    title = spec.get("title")
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if title and not _same_words(title, name):
        return title
    return in_words(name)


def _same(before: Mapping[str, Any], after: Mapping[str, Any], name: str) -> bool:
    """Whether an argument is unchanged (as JSON: `1` and `true` differ, key order does not)."""
    if (name in before) != (name in after):
        return False
    return _json(before.get(name), sort_keys=True) == _json(after.get(name), sort_keys=True)


def _properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The schema's properties that are described by an object (an MCP server's schema is
    untrusted input: anything else is ignored, not an error)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {
        name: spec if isinstance(spec, dict) else {}
        for name, spec in properties.items()
        if isinstance(name, str)
    }


def _description(spec: Mapping[str, Any], shown_label: str) -> str | None:
    text = spec.get("description")
    if not isinstance(text, str) or not (text := " ".join(text.split())):
        return None
    if _same_words(text, shown_label):
        return None  # "Title: Title." says nothing new
    return escape_mrkdwn(_shorten(text, SHOWN_DESCRIPTION_CHARS))


def _plain(text: str, limit: int) -> Value:
    shown = _shorten(text, limit)
    return Value(escape_mrkdwn(shown) or EMPTY, shown != text, "\n" in shown)


def _listed(items: list[Any], limit: int) -> Value:
    """Short lists on one line (`drinks, health`), others as bullets, at most SHOWN_ITEMS."""
    if not items:
        return Value("_(none)_", False)
    texts: list[str] = []
    length = 0
    for item in items:
        if length > limit or len(texts) > SHOWN_ITEMS:
            break  # enough to show; the rest is not written out at all
        texts.append(_inline(item))
        length += len(texts[-1]) + 2
    joined = ", ".join(texts)
    if (
        len(texts) == len(items)
        and len(joined) <= min(limit, INLINE_LIST_CHARS)
        and not any("," in text or "\n" in text for text in texts)
    ):
        return Value(escape_mrkdwn(joined), False)
    bullets: list[str] = []
    used, cut = 0, False
    for text in texts[:SHOWN_ITEMS]:
        item = _shorten(" ".join(text.split()), SHOWN_ITEM_CHARS)
        if bullets and used + len(item) > limit:
            break
        bullets.append(item)
        used += len(item) + 3
        cut = cut or item != text
    lines = [f"• {escape_mrkdwn(item) or EMPTY}" for item in bullets]
    if hidden := len(items) - len(bullets):
        lines.append(f"…and {hidden} more")
    return Value("\n".join(lines), cut or hidden > 0, own_lines=True)


def _nested(fields: dict[Any, Any], limit: int) -> Value:
    """An object on one line, `Key: value · Key: value`, shortened."""
    if not fields:
        return Value(EMPTY, False)
    parts: list[str] = []
    length = 0
    for key, item in fields.items():
        if length > limit:
            return _plain(" · ".join(parts) + " · …", limit)
        parts.append(f"{in_words(str(key))}: {' '.join(_inline(item).split())}")
        length += len(parts[-1]) + 3
    return _plain(" · ".join(parts), limit)


def _inline(raw: Any) -> str:
    """A value as plain text on its own: strings as given, the rest as JSON would write it."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "Yes" if raw else "No"
    return _json(raw)


def _json(raw: Any, *, sort_keys: bool = False) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, sort_keys=sort_keys, default=str)
    except (ValueError, TypeError, RecursionError):
        return str(raw)


def _struck(text: str) -> str:
    """Each line struck through where mrkdwn can (no `~` inside, no space at either end)."""
    return "\n".join(
        f"~{line}~" if line and line == line.strip() and "~" not in line else line
        for line in text.split("\n")
    )


def _same_words(text: str, other: str) -> bool:
    """Whether two texts differ only in case, spaces and punctuation (and are not only that)."""
    squashed = re.sub(r"[^0-9a-z]", "", text.lower())
    return bool(squashed) and squashed == re.sub(r"[^0-9a-z]", "", other.lower())
