"""How the demo model reads a person's request: pure text functions, no state.

English phrasings for saving and searching notes and for reminders, turned into what the
planner needs (a query, note titles and bodies, a reminder's subject and whether it says when);
and the one fixed form for calling any tool, `call <tool> {JSON arguments}`.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

_MENTION = re.compile(r"<[@#!][^>]*>")
_POLITE = (
    r"(?:(?:hey|hi|ok|okay|so)[,!]?\s+)?(?:please\s+)?"
    r"(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?"
)

_SEARCH = [
    re.compile(
        r"\bwhat\s+(?:did|have)\s+(?:i|we|you)\s+(?:saved?|noted?|wr[io]tt?e(?:n)?)\s+"
        r"(?:down\s+)?(?:about|on|for|regarding)\s+(?P<x>.+)",
        re.I,
    ),
    re.compile(
        r"\b(?:find|search|look\s+up|show|list|get)\s+(?:me\s+)?(?:my\s+|our\s+|the\s+|any\s+)?"
        r"notes?\s+(?:about|on|for|with|regarding|mentioning)\s+(?P<x>.+)",
        re.I,
    ),
    re.compile(
        r"\b(?:do|did)\s+(?:i|we|you)\s+have\s+(?:any\s+)?notes?\s+(?:about|on|for)\s+(?P<x>.+)",
        re.I,
    ),
    re.compile(r"\bwhat\s+notes\s+do\s+(?:i|we|you)\s+have\s+(?:about|on|for)\s+(?P<x>.+)", re.I),
]
_SAVE_MANY = re.compile(
    r"\b(?:save|write|make|create|add|take)\s+(?:some\s+|two\s+|three\s+|a\s+few\s+)?notes\s+"
    r"(?:about|on|for)\s+(?P<x>.+)",
    re.I,
)
_SAVE_ABOUT = re.compile(
    r"\b(?:save|write|make|create|add|take)\s+(?:a\s+|the\s+|this\s+)?note\s+"
    r"(?:about|on|for|titled|called)\s+(?P<x>.+)",
    re.I,
)
_SAVE_SAYING = re.compile(
    r"\b(?:save|write|make|create|add|take)\s+(?:a\s+|the\s+|this\s+)?note\s*"
    r"(?:[:—–-]|\s+saying|\s+that\s+says)\s*(?P<x>.+)",
    re.I,
)
_NOTE_THAT = re.compile(rf"^{_POLITE}(?:make\s+a\s+)?note\s+(?:that|of|down)\s+(?P<x>.+)", re.I)
_REMEMBER = re.compile(rf"^{_POLITE}remember\s+(?:that\s+)?(?P<x>.+)", re.I)
_ITEM_SPLIT = re.compile(r"\s*(?:,\s*and\s+|,\s*|;\s*|\s+and\s+|\s*&\s*)", re.I)
_BODY_SPLIT = re.compile(r"\s*(?::|\s—\s|\s+saying\s+|\s+that\s+says\s+)\s*", re.I)
_REMIND = re.compile(r"\bremind\s+(?:me|us)\b(?P<rest>.*)", re.I)
_SCHEDULE = re.compile(r"\bschedule\s+(?P<rest>.+)", re.I)
_DAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_TIME = re.compile(
    r"\b(?:\d{1,2}(?::\d{2})\s*(?:am|pm)?|\d{1,2}\s*(?:am|pm)|at\s+\d{1,2}|noon|midnight|"
    r"tonight|today|tomorrow|this\s+(?:morning|afternoon|evening|week)|"
    rf"next\s+(?:week|month|{_DAYS})|{_DAYS}|in\s+(?:\d+|an?)\s+(?:minutes?|hours?|days?|weeks?)|"
    r"\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{1,2})\b",
    re.I,
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening))\b", re.I
)
_TOOL_CALL = re.compile(
    rf"^{_POLITE}(?:call|use|run)\s+(?:the\s+)?(?:tool\s+)?`?(?P<name>[A-Za-z][\w.-]*)`?"
    r"(?:\s+tool)?(?:\s+with)?\s*(?P<arguments>.*)$",
    re.I | re.S,
)
_JSON_START = tuple("`{[\"“'")
_STRAIGHT_QUOTES = str.maketrans("“”‘’", "\"\"''")
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}
_TOOLS_QUESTION = re.compile(
    rf"^{_POLITE}(?:(?:what|which)\s+tools\b|(?:list|show|name)\s+(?:me\s+)?"
    r"(?:the\s+|your\s+|all\s+(?:the\s+|your\s+)?|available\s+)?tools$|tools$|"
    r"what\s+can\s+you\s+call$)",
    re.I,
)
_ARTICLE = re.compile(r"^(?:the|a|an|my|our|some|to)\s+", re.I)
_PRONOUNS = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
}


@dataclass(frozen=True)
class Reminder:
    """A "remind me …" or "schedule …" request: what it is about and whether it says when."""

    subject: str
    form: str  # "about", "to", "schedule" or "" (nothing said)
    has_time: bool


@dataclass(frozen=True)
class ToolRequest:
    """A `call <tool> {JSON}` request: the tool's name and arguments, or why they are unreadable.

    `problem` is empty when `arguments` were read; otherwise it says what is wrong with them.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def clean_request(text: str) -> str:
    """The request without Slack mentions, extra spaces or closing punctuation."""
    text = _MENTION.sub(" ", text)
    text = " ".join(text.split())
    text = re.sub(r"[\s,]+please$", "", text, flags=re.I)
    return text.strip().rstrip(".!?").strip()


def search_query(text: str) -> str | None:
    """X in "what did I save about X" / "find notes about X" / "search notes for X"."""
    for pattern in _SEARCH:
        if match := pattern.search(text):
            return _strip_quotes(match["x"])
    return None


def notes_to_save(text: str) -> list[dict[str, str]] | None:
    """The save_note arguments a request asks for: one note, or one per item of a list.

    "save a note about X" / "note that X" / "remember X" give one note; "save notes about X and Y"
    gives one per item.
    """
    if match := _SAVE_MANY.search(text):
        items = [_strip_quotes(item) for item in _ITEM_SPLIT.split(match["x"])]
        return [_note_about(item) for item in items if item][:5] or None
    if match := _SAVE_ABOUT.search(text):
        item = _strip_quotes(match["x"])
        return [_note_about(item)] if item else None
    if match := _SAVE_SAYING.search(text) or _NOTE_THAT.search(text):
        statement = _strip_quotes(match["x"])
        return [{"title": note_title(statement), "body": as_sentence(statement)}]
    if match := _REMEMBER.search(text):
        statement = _strip_quotes(match["x"])
        body = f"Remember {statement}" if statement.lower().startswith("to ") else statement
        return [{"title": note_title(statement), "body": as_sentence(body)}]
    return None


def _note_about(item: str) -> dict[str, str]:
    """Title and body for a note about `item`; "X: more words" gives the body explicitly."""
    parts = _BODY_SPLIT.split(item, maxsplit=1)
    if len(parts) == 2 and parts[0] and parts[1]:
        return {"title": note_title(parts[0]), "body": as_sentence(parts[1])}
    return {
        "title": note_title(item),
        "body": as_sentence(f"A note about {item}, saved from the chat so the team can find it"),
    }


def reminder_request(text: str) -> Reminder | None:
    """A reminder or scheduling request, with its subject and whether it names a time."""
    has_time = _TIME.search(text) is not None
    if match := _REMIND.search(text):
        rest = match["rest"].strip(" ,:")
        for form in ("about", "of", "to"):
            if rest.lower().startswith(form + " "):
                subject = rest[len(form) + 1 :].strip()
                return Reminder(subject, "to" if form == "to" else "about", has_time)
        return Reminder(rest, "about" if rest else "", has_time)
    if match := _SCHEDULE.search(text):
        return Reminder(match["rest"].strip(), "schedule", has_time)
    return None


def tool_request(text: str) -> ToolRequest | None:
    """`call <tool>`, `use <tool> {"a": 1}` or `run the tool <tool> with {…}`: any tool, by name.

    The arguments are a JSON object; Slack's escaping (`&lt;`, `&amp;`), code backticks and
    typographic quotes around it are forgiven, since people paste it into a chat box. Other words
    after a plain word ("use the notes to …") are not this form; after a tool-like name with an
    underscore they are arguments that could not be read.
    """
    match = _TOOL_CALL.search(text)
    if match is None:
        return None
    name, written = match["name"], match["arguments"].strip()
    if not written:
        return ToolRequest(name)
    if not written.startswith(_JSON_START) and "_" not in name:
        return None
    return ToolRequest(name, *_json_arguments(html.unescape(written).strip("`").strip()))


def _json_arguments(written: str) -> tuple[dict[str, Any], str]:
    """The arguments as a JSON object, or an empty one and what is wrong with them."""
    try:
        value = json.loads(written)
    except json.JSONDecodeError as error:
        try:
            value = json.loads(written.translate(_STRAIGHT_QUOTES))
        except json.JSONDecodeError:
            return {}, f"that is not valid JSON ({error.msg}, at character {error.pos + 1})"
    if isinstance(value, dict):
        return value, ""
    kind = _JSON_TYPES.get(type(value), "true or false" if isinstance(value, bool) else "null")
    return {}, f"that is a JSON {kind}, not an object"


def asks_for_tools(text: str) -> bool:
    """Whether the person asks which tools there are: "what tools do you have?", "list tools"."""
    return _TOOLS_QUESTION.search(text) is not None


def is_greeting(text: str) -> bool:
    return _GREETING.search(text) is not None


def note_title(subject: str) -> str:
    """A short, capitalised title: "the quarterly budget review" → "Quarterly budget review"."""
    words = _ARTICLE.sub("", subject.strip()).split()
    title = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
    if len(title) > 60:
        title = title[:59].rstrip() + "…"
    return title[:1].upper() + title[1:]


def as_sentence(text: str) -> str:
    """Capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def second_person(text: str) -> str:
    """Turn the requester's words around for a question: "my dentist" → "your dentist"."""

    def swap(match: re.Match[str]) -> str:
        return _PRONOUNS[match[0].lower()]

    return re.sub(r"\b(?:" + "|".join(_PRONOUNS) + r")\b", swap, text, flags=re.I)


def reminder_question(reminder: Reminder) -> str:
    """What to ask when a reminder or scheduling request does not say when."""
    subject = second_person(reminder.subject)
    if reminder.form == "about":
        return f"When is {subject}, and when should I remind you?"
    if reminder.form == "to":
        return f"When should I remind you to {subject}?"
    if reminder.form == "schedule":
        return f"When should I schedule {subject}?"
    return "What should I remind you about, and when?"


def _strip_quotes(text: str) -> str:
    return text.strip().strip("\"'“”‘’`").strip().rstrip(".!?").strip()
