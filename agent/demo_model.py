"""The offline `demo` model: a deterministic litellm provider that behaves like a good assistant.

`LLM_MODEL=demo` (the default) lets anyone run Countersign with no key and no network, and still
see the whole flow: streamed Markdown, a write that waits for approval, parallel tool calls, a
question back to the person, and replies that follow what really happened to each call.

Two halves: `plan_reply` and its helpers are pure functions from the conversation to a
`DemoReply` (tests call them directly); `DemoLLM` is the litellm glue that streams a plan at a
natural pace, text as word-sized tokens and tool-call arguments in small fragments.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm: no network fetch

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.llms.openai import ChatCompletionToolCallChunk, ChatCompletionUsageBlock
from litellm.types.utils import GenericStreamingChunk, ModelResponse
from litellm.utils import custom_llm_setup

from agent import tool_results

PROVIDER = "countersign-demo"
MODEL = f"{PROVIDER}/demo"
PACE_PARAM = "demo_tokens_per_second"
"""Per-call pace: the gateway passes it, so one registered handler serves every gateway."""

SAVE_NOTE = "save_note"
SEARCH_NOTES = "search_notes"
ASK_HUMAN = "ask_human"

Message = Mapping[str, Any]


@dataclass(frozen=True)
class DemoToolCall:
    """A tool call the demo model decided to make."""

    id: str
    name: str
    arguments: dict[str, str]


@dataclass(frozen=True)
class DemoReply:
    """Everything the demo model will say in one turn: text first, then tool calls."""

    text: str
    tool_calls: tuple[DemoToolCall, ...] = ()


# ── planning: conversation → reply ──────────────────────────────────────────────────────────


def plan_reply(messages: Sequence[Message], tool_names: Collection[str]) -> DemoReply:
    """Decide the demo model's next turn from the conversation and the offered tools."""
    results = _trailing_tool_results(messages)
    if results:
        text, calls = _reply_to_results(messages, results, tool_names)
    elif messages and messages[-1].get("role") == "user":
        text, calls = _reply_to_user(content_text(messages[-1].get("content")), tool_names)
    else:
        text, calls = _help(greet=False, tool_names=tool_names), []
    return DemoReply(
        text=text,
        tool_calls=tuple(
            DemoToolCall(id=call_id(messages, index), name=name, arguments=arguments)
            for index, (name, arguments) in enumerate(calls)
        ),
    )


_Call = tuple[str, dict[str, str]]


def call_id(messages: Sequence[Message], index: int) -> str:
    """A tool-call id that is the same for the same conversation, and new for a new one.

    The graph keys its write ledger on this id, so asking for the same note twice in one thread
    must not reuse an id.
    """
    seed = json.dumps(list(messages), sort_keys=True, default=str) + f"#{index}"
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def content_text(content: object) -> str:
    """The text of an OpenAI message `content`: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        ).strip()
    return ""


def _reply_to_user(raw: str, tool_names: Collection[str]) -> tuple[str, list[_Call]]:
    text = clean_request(raw)
    if (query := search_query(text)) is not None:
        if SEARCH_NOTES not in tool_names:
            return _unavailable("search notes", SEARCH_NOTES), []
        return "", [(SEARCH_NOTES, {"query": query})]
    if (notes := notes_to_save(text)) is not None:
        return _save_notes(notes, tool_names)
    if (reminder := reminder_request(text)) is not None:
        return _remind(reminder, text, tool_names)
    return _help(greet=is_greeting(text), tool_names=tool_names, request=text), []


# ── understanding the request ───────────────────────────────────────────────────────────────

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


# ── replies to a person ─────────────────────────────────────────────────────────────────────


def _save_notes(
    notes: list[dict[str, str]], tool_names: Collection[str]
) -> tuple[str, list[_Call]]:
    if SAVE_NOTE not in tool_names:
        return _unavailable("save notes", SAVE_NOTE), []
    titles = [f"“{note['title']}”" for note in notes]
    if len(notes) == 1:
        text = f"I'll save a note titled {titles[0]} so the team can find it later."
    else:
        listed = ", ".join(titles[:-1]) + " and " + titles[-1]
        text = f"I'll save {len(notes)} notes, {listed}, so the team can find them later."
    return text, [(SAVE_NOTE, note) for note in notes]


def _remind(reminder: Reminder, text: str, tool_names: Collection[str]) -> tuple[str, list[_Call]]:
    if reminder.has_time and reminder.subject:
        if SAVE_NOTE not in tool_names:
            return _unavailable("save reminders", SAVE_NOTE), []
        title = note_title(f"Reminder: {reminder.subject}")
        return (
            f"I'll save a reminder titled “{title}” so it is written down.",
            [(SAVE_NOTE, {"title": title, "body": as_sentence(text)})],
        )
    question = reminder_question(reminder)
    if ASK_HUMAN not in tool_names:
        return question, []
    return "", [(ASK_HUMAN, {"question": question})]


def _help(greet: bool, tool_names: Collection[str], request: str = "") -> str:
    if greet:
        opening = "Hi! I'm the Countersign demo model: I run offline, so no API key is needed."
    elif request:
        opening = (
            "I'm the offline demo model, so I can't really answer that, but here is what I can do:"
        )
    else:
        opening = "Here is what I can do:"
    skills = [
        (
            SAVE_NOTE,
            "**Save notes**: say “save a note about the launch plan”. "
            "Saving is a write, so someone approves it first.",
        ),
        (SEARCH_NOTES, "**Search notes**: say “find notes about launch”."),
        (
            ASK_HUMAN,
            "**Ask when something is missing**: say “remind me about the meeting” "
            "and I'll ask when it is.",
        ),
    ]
    bullets = [f"- {line}" for name, line in skills if name in tool_names]
    if not bullets:
        return f"{opening}\n\nNo tools are available right now, so I can only chat."
    return (
        f"{opening}\n\n"
        + "\n".join(bullets)
        + "\n\nSet `LLM_MODEL` to a real model (for example `openai/gpt-4o-mini`) for real answers."
    )


def _unavailable(what: str, tool: str) -> str:
    return f"I can't {what} right now: the `{tool}` tool is not available."


# ── replies to tool results ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Result:
    name: str
    arguments: dict[str, Any]
    content: str
    assistant_index: int


def _trailing_tool_results(messages: Sequence[Message]) -> list[_Result]:
    """The tool results at the end of the conversation, each with the call it answers."""
    end = len(messages)
    while end > 0 and messages[end - 1].get("role") == "tool":
        end -= 1
    results: list[_Result] = []
    for message in messages[end:]:
        name, arguments, where = _find_call(messages, str(message.get("tool_call_id", "")), end)
        results.append(
            _Result(
                name=name or str(message.get("name") or "tool"),
                arguments=arguments,
                content=content_text(message.get("content")).strip(),
                assistant_index=where,
            )
        )
    return results


def _find_call(
    messages: Sequence[Message], wanted: str, before: int
) -> tuple[str, dict[str, Any], int]:
    for index in range(before - 1, -1, -1):
        for call in messages[index].get("tool_calls") or []:
            if call.get("id") == wanted:
                function = call.get("function") or {}
                return str(function.get("name", "")), _json_object(function.get("arguments")), index
    return "", {}, -1


def _json_object(raw: object) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(str(raw))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _reply_to_results(
    messages: Sequence[Message], results: list[_Result], tool_names: Collection[str]
) -> tuple[str, list[_Call]]:
    several = len(results) > 1
    lines: list[str] = []
    calls: list[_Call] = []
    for result in results:
        if result.name == SAVE_NOTE:
            title = str(result.arguments.get("title", ""))
            lines.append(save_outcome(result.content, title, several))
        elif result.name == SEARCH_NOTES:
            lines.append(search_summary(result.content, str(result.arguments.get("query", ""))))
        elif result.name == ASK_HUMAN:
            line, call = _after_answer(messages, result, tool_names)
            lines.append(line)
            calls.extend(call)
        else:
            first = result.content.splitlines()[0] if result.content else "(nothing)"
            lines.append(f"The `{result.name}` tool answered: {first}")
    text = "\n".join(f"- {line}" for line in lines) if several else "\n".join(lines)
    return text, calls


def save_outcome(content: str, title: str, name_it: bool = False) -> str:
    """One sentence on what happened to a save_note call, read from its tool result."""
    the_note = f"the note “{title}”" if name_it and title else "the note"
    if content.startswith(tool_results.DENIED):
        reason = content[len(tool_results.DENIED) :].strip()
        reason = reason.removeprefix("Reason:").strip()
        if not reason:
            return f"Okay, I did not save {the_note}."
        ending = "" if reason[-1] in ".!?…" else "."
        return f"Okay, I did not save {the_note}. Reason given: {reason}{ending}"
    if content.startswith(tool_results.EXPIRED):
        return f"Nobody approved saving {the_note} in time, so I did not save it."
    if content.startswith(tool_results.INTERRUPTED):
        return f"I did not save {the_note}: the run was interrupted before it could run."
    if content.startswith(tool_results.ERROR):
        detail = content[len(tool_results.ERROR) :].strip() or "unknown error"
        what = f"Saving {the_note}" if name_it and title else "Saving"
        return f"{what} failed: {as_sentence(detail)}"
    if tool_results.EDITED_NOTE in content:
        # The call's arguments are the proposal; the result names what was really saved.
        quoted = re.search(r"“([^”]+)”", content)
        named = f" “{quoted[1]}”" if quoted else ""
        return f"Done — saved the note{named}, as edited by the approver."
    return f"Done — saved the note “{title}”." if title else "Done — saved the note."


_NOTHING_FOUND = re.compile(
    r"^(?:no\b|nothing\b|none\b|0\s+notes?\b|found\s+no\b)|\bno\s+(?:matching\s+)?notes\b|"
    r"\bnothing\s+(?:matched|found)\b|\bno\s+match",
    re.I,
)


def search_summary(content: str, query: str) -> str:
    """A short summary of what search_notes returned."""
    about = f" about “{query}”" if query else ""
    if content.startswith(tool_results.ERROR):
        detail = content[len(tool_results.ERROR) :].strip()
        return f"Searching the notes failed: {as_sentence(detail)}"
    if not content or _NOTHING_FOUND.search(content):
        return f"I found no notes{about}."
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]  # the tool's own heading ("2 notes match …:")
    shown = [line if line[:1] in "-*•" else f"- {line}" for line in lines[:10]]
    if len(lines) > 10:
        shown.append(f"- …and {len(lines) - 10} more")
    return f"Here is what I found{about}:\n" + "\n".join(shown)


def _after_answer(
    messages: Sequence[Message], result: _Result, tool_names: Collection[str]
) -> tuple[str, list[_Call]]:
    """After a person answered ask_human: offer to save a reminder with their answer."""
    answer = result.content
    not_answered = (
        tool_results.NO_ANSWER,
        tool_results.DENIED,
        tool_results.EXPIRED,
        tool_results.ERROR,
        tool_results.INTERRUPTED,
    )
    if not answer or answer.startswith(not_answered):
        return "I didn't get an answer, so I have not set a reminder.", []
    subject = _asked_subject(messages, result.assistant_index)
    if SAVE_NOTE not in tool_names:
        return f"Thanks, noted: {as_sentence(answer)}", []
    title = note_title(f"Reminder: {subject}")
    return (
        f"Thanks! I'll save a reminder titled “{title}” so it isn't forgotten.",
        [(SAVE_NOTE, {"title": title, "body": answer})],
    )


def _asked_subject(messages: Sequence[Message], assistant_index: int) -> str:
    """What the question was about, from the person's request that led to it."""
    for index in range(assistant_index - 1, -1, -1):
        if messages[index].get("role") == "user":
            request = clean_request(content_text(messages[index].get("content")))
            reminder = reminder_request(request)
            if reminder is not None and reminder.subject:
                return reminder.subject
            return request or "your request"
    return "your request"


# ── streaming: plan → litellm chunks ────────────────────────────────────────────────────────

_FRAGMENT_SIZES = (7, 9, 12, 8, 11, 10)


def text_tokens(text: str) -> list[str]:
    """Word-sized tokens, each with its trailing whitespace, that join back to `text`."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def argument_fragments(arguments: str) -> list[str]:
    """JSON arguments cut into 7–12 character pieces, the way providers stream them."""
    pieces, start, turn = [], 0, 0
    while start < len(arguments):
        size = _FRAGMENT_SIZES[turn % len(_FRAGMENT_SIZES)]
        pieces.append(arguments[start : start + size])
        start, turn = start + size, turn + 1
    return pieces


def chunks(reply: DemoReply) -> Iterator[GenericStreamingChunk]:
    """The reply as litellm generic streaming chunks (text, then each tool call, then the end)."""
    for token in text_tokens(reply.text):
        yield _chunk(text=token)
    for index, call in enumerate(reply.tool_calls):
        yield _chunk(
            tool_use=ChatCompletionToolCallChunk(
                id=call.id,
                type="function",
                index=index,
                function={"name": call.name, "arguments": ""},
            )
        )
        for piece in argument_fragments(json.dumps(call.arguments, ensure_ascii=False)):
            yield _chunk(
                tool_use=ChatCompletionToolCallChunk(
                    id=None,
                    type="function",
                    index=index,
                    function={"name": None, "arguments": piece},
                )
            )
    words = len(text_tokens(reply.text)) + 10 * len(reply.tool_calls)
    yield _chunk(
        finish_reason="tool_calls" if reply.tool_calls else "stop",
        usage=ChatCompletionUsageBlock(
            prompt_tokens=0, completion_tokens=words, total_tokens=words
        ),
    )


def _chunk(
    text: str = "",
    tool_use: ChatCompletionToolCallChunk | None = None,
    finish_reason: str = "",
    usage: ChatCompletionUsageBlock | None = None,
) -> GenericStreamingChunk:
    return GenericStreamingChunk(
        text=text,
        tool_use=tool_use,
        is_finished=bool(finish_reason),
        finish_reason=finish_reason,
        usage=usage,
        index=0,
    )


def tool_names_from(optional_params: Mapping[str, Any] | None) -> set[str]:
    """Names of the tools offered in an OpenAI-format `tools` list."""
    tools = (optional_params or {}).get("tools") or []
    return {
        str(tool.get("function", {}).get("name"))
        for tool in tools
        if isinstance(tool, Mapping) and tool.get("function")
    }


class DemoLLM(CustomLLM):
    """The litellm provider behind `LLM_MODEL=demo`."""

    def __init__(self, tokens_per_second: float = 0.0) -> None:
        super().__init__()
        self.tokens_per_second = tokens_per_second

    def _plan(
        self, messages: list[Message], optional_params: Mapping[str, Any] | None
    ) -> DemoReply:
        return plan_reply(messages, tool_names_from(optional_params))

    def _delay(self, optional_params: Mapping[str, Any] | None) -> float:
        pace = float((optional_params or {}).get(PACE_PARAM, self.tokens_per_second) or 0)
        return 1 / pace if pace > 0 else 0.0

    # litellm declares astreaming as a coroutine, but iterates what it returns with `async for`:
    # an async generator is what works (langgraph-litellm notes §6.3).
    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        optional_params = kwargs.get("optional_params")
        delay = self._delay(optional_params)
        for chunk in chunks(self._plan(messages, optional_params)):
            if delay and not chunk["is_finished"]:
                await asyncio.sleep(delay)
            yield chunk

    def streaming(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> Iterator[GenericStreamingChunk]:
        optional_params = kwargs.get("optional_params")
        delay = self._delay(optional_params)
        for chunk in chunks(self._plan(messages, optional_params)):
            if delay and not chunk["is_finished"]:
                time.sleep(delay)
            yield chunk

    async def acompletion(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)

    def completion(
        self, model: str, messages: list[Message], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        reply = self._plan(messages, kwargs.get("optional_params"))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        return ModelResponse(
            model=model,
            choices=[{"index": 0, "finish_reason": finish, "message": message}],
        )


def register(tokens_per_second: float = 0.0) -> str:
    """Make `MODEL` callable through litellm; calling it again changes nothing.

    Returns the litellm model string to use.
    """
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": DemoLLM(tokens_per_second)},
        ]
    custom_llm_setup()  # type: ignore[no-untyped-call]
    return MODEL
