"""The demo model's mind: a pure function from the conversation to what it says and calls.

`plan_reply` reads the OpenAI-format messages (the person's request, or the tool results at the
end) and returns a `DemoReply`; demo_model.py streams it through litellm. Reading the request's
words is in demo_requests.py. Deterministic, so tests call it directly.

Besides notes and reminders, it calls any offered tool (an MCP server's too) in one fixed form, so
tools and policies can be tried with no key:

    call tickets__close_ticket {"id": 3, "priority": "low"}
    use tickets__list_tickets

The JSON object is the call's arguments (none: `{}`); after the result it answers with a sentence
quoting it, or saying it was denied, refused by the policy, expired or failed. "what tools do you
have?" or "list tools" names the offered tools; a tool not offered or arguments that are not a
JSON object get a reply saying so, never a call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent import tool_results
from agent.demo_requests import (
    Reminder,
    ToolRequest,
    as_sentence,
    asks_for_tools,
    clean_request,
    is_greeting,
    note_title,
    notes_to_save,
    reminder_question,
    reminder_request,
    search_query,
    tool_request,
)

SAVE_NOTE = "save_note"
SEARCH_NOTES = "search_notes"
ASK_HUMAN = "ask_human"
BUILT_IN = (SAVE_NOTE, SEARCH_NOTES, ASK_HUMAN)
CALL_FORM = 'call <tool> {"argument": "value"}'

Message = Mapping[str, Any]


@dataclass(frozen=True)
class DemoToolCall:
    """A tool call the demo model decided to make."""

    id: str
    name: str
    arguments: dict[str, Any]


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
        text, calls = _reply_to_user(_request(messages[-1]), tool_names)
    else:
        text, calls = _help(greet=False, tool_names=tool_names), []
    return DemoReply(
        text=text,
        tool_calls=tuple(
            DemoToolCall(id=call_id(messages, index), name=name, arguments=arguments)
            for index, (name, arguments) in enumerate(calls)
        ),
    )


_Call = tuple[str, dict[str, Any]]


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


def _request(message: Message) -> str:
    """A person's message as a request: its text without mentions or closing punctuation."""
    return clean_request(content_text(message.get("content")))


def _reply_to_user(text: str, tool_names: Collection[str]) -> tuple[str, list[_Call]]:
    if (request := tool_request(text)) is not None:
        return _call_tool(request, tool_names)
    if asks_for_tools(text):
        return _list_tools(tool_names), []
    if (query := search_query(text)) is not None:
        if SEARCH_NOTES not in tool_names:
            return _unavailable("search notes", SEARCH_NOTES), []
        return "", [(SEARCH_NOTES, {"query": query})]
    if (notes := notes_to_save(text)) is not None:
        return _save_notes(notes, tool_names)
    if (reminder := reminder_request(text)) is not None:
        return _remind(reminder, text, tool_names)
    return _help(greet=is_greeting(text), tool_names=tool_names, request=text), []


# ── replies to a person ─────────────────────────────────────────────────────────────────────


def _call_tool(request: ToolRequest, tool_names: Collection[str]) -> tuple[str, list[_Call]]:
    """The documented form: call the named tool with the JSON object as its arguments."""
    if request.name not in tool_names:
        return f"I don't have a tool called `{request.name}`. {_tools_sentence(tool_names)}", []
    if request.problem:
        example = json.dumps({"argument": "value"})
        return (
            f"I couldn't read the arguments for `{request.name}`: {request.problem}. "
            f"Write them as one JSON object after the name, for example "
            f"`call {request.name} {example}`, or leave them out for none.",
            [],
        )
    # No words before the call: the card or the progress line shows it, and the answer after
    # the result goes on in the same message.
    return "", [(request.name, request.arguments)]


def _list_tools(tool_names: Collection[str]) -> str:
    if not tool_names:
        return "No tools are available right now, so I can only chat."
    listed = "\n".join(f"- `{name}`" for name in sorted(tool_names))
    return (
        f"I can call these tools:\n{listed}\n\n"
        f"To call one, say `{CALL_FORM}`, for example `call {_example_tool(tool_names)}`."
    )


def _tools_sentence(tool_names: Collection[str]) -> str:
    if not tool_names:
        return "No tools are available right now."
    names = ", ".join(f"`{name}`" for name in sorted(tool_names))
    return f"The tools I have are {names}."


def _example_tool(tool_names: Collection[str]) -> str:
    """A tool to show in an example: one of the deployment's own if there is one."""
    own = sorted(name for name in tool_names if name not in BUILT_IN)
    return (own or sorted(tool_names))[0]


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
    if tool_names:
        bullets.append(
            f"- **Call any tool**: say “call {_example_tool(tool_names)}”, with its arguments as "
            "JSON after the name; “list tools” names them all."
        )
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
            lines.append(tool_outcome(result.name, result.content))
    text = "\n".join(f"- {line}" for line in lines) if several else "\n".join(lines)
    return text, calls


def save_outcome(content: str, title: str, name_it: bool = False) -> str:
    """One sentence on what happened to a save_note call, read from its tool result."""
    the_note = f"the note “{title}”" if name_it and title else "the note"
    if content.startswith(tool_results.DENIED):
        reason = _after(tool_results.DENIED, content).removeprefix("Reason:").strip()
        if not reason:
            return f"Okay, I did not save {the_note}."
        ending = "" if reason[-1] in ".!?…" else "."
        return f"Okay, I did not save {the_note}. Reason given: {reason}{ending}"
    if content.startswith(tool_results.REFUSED):
        return f"I did not save {the_note}: the approval policy refuses it.{_refusal(content)}"
    if content.startswith(tool_results.EXPIRED):
        return f"Nobody approved saving {the_note} in time, so I did not save it."
    if content.startswith(tool_results.INTERRUPTED):
        return f"I did not save {the_note}: the run was interrupted before it could run."
    if content.startswith(tool_results.ERROR):
        detail = _after(tool_results.ERROR, content) or "unknown error"
        what = f"Saving {the_note}" if name_it and title else "Saving"
        return f"{what} failed: {as_sentence(detail)}"
    if tool_results.EDITED_NOTE in content:
        # The call's arguments are the proposal; the result names what was really saved.
        quoted = re.search(r"“([^”]+)”", content)
        named = f" “{quoted[1]}”" if quoted else ""
        return f"Done — saved the note{named}, as edited by the approver."
    return f"Done — saved the note “{title}”." if title else "Done — saved the note."


def tool_outcome(name: str, content: str) -> str:
    """What happened to any other tool's call, read from its result, quoting what it said."""
    tool = f"`{name}`"
    if content.startswith(tool_results.DENIED):
        reason = _after(tool_results.DENIED, content).removeprefix("Reason:").strip()
        ending = "" if not reason or reason[-1] in ".!?…" else "."
        given = f" Reason given: {reason}{ending}" if reason else ""
        return f"Okay, {tool} did not run: it was not approved.{given}"
    if content.startswith(tool_results.REFUSED):
        return f"{tool} did not run: the approval policy refuses it.{_refusal(content)}"
    if content.startswith(tool_results.EXPIRED):
        return f"Nobody approved {tool} in time, so it did not run."
    if content.startswith(tool_results.INTERRUPTED):
        return f"{tool} did not run: the run was interrupted before it could run."
    if content.startswith(tool_results.ERROR):
        detail = _after(tool_results.ERROR, content) or "unknown error"
        return f"{tool} failed: {as_sentence(detail)}"
    edited = " as edited by the approver" if tool_results.EDITED_NOTE in content else ""
    said = content.replace(tool_results.EDITED_NOTE, "")
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    if not lines:
        return f"Done — {tool} ran{edited} and returned nothing."
    if len(lines) == 1:
        return f"Done — {tool} ran{edited} and answered: {lines[0]}"
    quoted = [f"> {line}" for line in lines[:10]]
    if len(lines) > 10:
        quoted.append(f"> …and {len(lines) - 10} more lines")
    return f"{tool} ran{edited} and answered:\n" + "\n".join(quoted)


def _refusal(content: str) -> str:
    """The policy's reason, from a refused call's result, as a sentence to append (or "")."""
    reason = _after(tool_results.REFUSED, content).removeprefix("Reason:").strip()
    return f" Reason: {as_sentence(reason)}" if reason else ""


def _after(prefix: str, content: str) -> str:
    """What a tool result says after its standard opening (tool_results.DENIED, ERROR…)."""
    return content.removeprefix(prefix).strip()


_NOTHING_FOUND = re.compile(
    r"^(?:no\b|nothing\b|none\b|0\s+notes?\b|found\s+no\b)|\bno\s+(?:matching\s+)?notes\b|"
    r"\bnothing\s+(?:matched|found)\b|\bno\s+match",
    re.I,
)


def search_summary(content: str, query: str) -> str:
    """A short summary of what search_notes returned."""
    about = f" about “{query}”" if query else ""
    if content.startswith(tool_results.ERROR):
        return f"Searching the notes failed: {as_sentence(_after(tool_results.ERROR, content))}"
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
        tool_results.REFUSED,
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
            request = _request(messages[index])
            reminder = reminder_request(request)
            if reminder is not None and reminder.subject:
                return reminder.subject
            return request or "your request"
    return "your request"
