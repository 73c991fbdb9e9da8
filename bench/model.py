"""The mock model's script: long chat answers, a save_note tool call, and what follows approval.

Every request is recognised from its body alone (`classify`), so the same rule scripts the mock
and, afterwards, tells which request belonged to which conversation. A conversation is tagged
`[bench c007]` in its first message. Answers use plain words and paragraph breaks, which Slack's
mrkdwn shows unchanged, so "what Slack shows" can be compared with "what the model sent" exactly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Literal

from tests.mock_llm_server import Reply

RequestKind = Literal["chat", "tool_call", "continuation", "other"]
NOTE_REQUEST = "save a note about"
TOOL = "save_note"
_TAG = re.compile(r"\[bench (c\d{3,})\]")
_WORDS = (
    *("water", "team", "plan", "budget", "review", "meeting", "launch", "draft", "notes"),
    *("customer", "report", "design", "metric", "deadline", "release", "feedback", "support"),
    *("invoice", "schedule", "roadmap", "summary", "project", "channel", "update", "result"),
    *("change", "risk", "owner", "goal", "status", "question", "answer", "detail"),
)
_PARAGRAPH_WORDS = 60


def tag(index: int) -> str:
    """The conversation's tag: c001, c002, …"""
    return f"c{index + 1:03d}"


def chat_question(conversation: str) -> str:
    return f"[bench {conversation}] tell me everything about the project plan"


def note_request(conversation: str) -> str:
    return f"[bench {conversation}] {NOTE_REQUEST} {topic(conversation)}"


def topic(conversation: str) -> str:
    return f"topic {conversation}"


def words(seed: str, count: int) -> str:
    """`count` plain words in sentences and paragraphs, the same for the same seed."""
    rng = random.Random(seed)
    out: list[str] = []
    for n in range(count):
        word = rng.choice(_WORDS)
        if n and n % _PARAGRAPH_WORDS == 0:
            out.append("\n\n")
        elif n:
            out.append(" ")
        out.append(word.capitalize() if n % 12 == 0 else word)
        if n % 12 == 11 or n == count - 1:
            out.append(".")
    return "".join(out)


def answer_text(conversation: str, count: int) -> str:
    """A chat answer; it starts with "Here", which no status line contains."""
    return f"Here is the plan for {conversation}. " + words(conversation, max(0, count - 6))


def lead_text(conversation: str) -> str:
    """What the model says before its tool call."""
    return f"I will save a note about {topic(conversation)}."


def continuation_text(conversation: str, count: int) -> str:
    """After the approved call; it starts with "Done", which the card never says."""
    return f"Done: the note about {topic(conversation)} is saved. " + words(
        "after-" + conversation, max(0, count - 9)
    )


def classify(body: dict[str, Any]) -> tuple[str | None, RequestKind]:
    """Which conversation a chat-completions request belongs to, and what it asks for."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    users = [str(m.get("content")) for m in messages if m.get("role") == "user"]
    found = next((m.group(1) for text in users if (m := _TAG.search(text))), None)
    if found is None or not messages:
        return None, "other"
    if messages[-1].get("role") == "tool":
        return found, "continuation"
    if users and NOTE_REQUEST in users[-1]:
        return found, "tool_call"
    return found, "chat"


@dataclass(frozen=True, slots=True)
class ScriptedModel:
    """The mock's `default`: answers every request from its body (see `classify`)."""

    answer_words: int
    continuation_words: int
    chunk_chars: int = 4

    def __call__(self, body: dict[str, Any]) -> Reply:
        conversation, kind = classify(body)
        if conversation is None:
            return Reply(text="ok", chunk_chars=self.chunk_chars)
        if kind == "tool_call":
            arguments = {"title": topic(conversation), "body": f"Saved by bench {conversation}."}
            return Reply(
                text=lead_text(conversation),
                tool_calls=[(TOOL, arguments)],
                chunk_chars=self.chunk_chars,
            )
        if kind == "continuation":
            text = continuation_text(conversation, self.continuation_words)
            return Reply(text=text, chunk_chars=self.chunk_chars)
        return Reply(
            text=answer_text(conversation, self.answer_words), chunk_chars=self.chunk_chars
        )
