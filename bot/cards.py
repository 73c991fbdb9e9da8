"""Block Kit for pauses: the approval card, its decided states, the question, and the modals.

Pure functions from values to blocks. Everything shown comes from the exact arguments that
will run, escaped as untrusted text; only mentions and dates the bot writes itself use `<…>`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from bot.formatting import escape_mrkdwn

Block = dict[str, Any]
View = dict[str, Any]

APPROVE = "countersign_approve"
DENY = "countersign_deny"
EDIT = "countersign_edit"
VIEW_ARGUMENTS = "countersign_view_arguments"
STOP = "countersign_stop"
RETRY = "countersign_retry"
DENY_MODAL = "countersign_deny_reason"
EDIT_MODAL = "countersign_edit_arguments"

SHOWN_VALUE_CHARS = 300
SHOWN_NAME_CHARS = 100
SHOWN_ARGUMENTS = 100
"""More would not fit in a message's 50 blocks; the rest are in the full-arguments modal."""
FULL_ARGUMENTS_AFTER = 30
SHOWN_REASON_CHARS = 600
SECTION_CHARS = 2900
INPUT_CHARS = 3000
"""The most a plain_text_input holds: longer values cannot be prefilled whole."""
MODAL_SECTIONS = 95
TOO_LONG_ERROR = (
    "Too long to edit here: type a replacement, or cancel and approve it from the card as it is."
)


@dataclass(frozen=True)
class PauseRef:
    """What a button or modal carries: the conversation and the exact pause it answers."""

    thread_id: str
    interrupt_id: str

    def encode(self) -> str:
        """Compact JSON for a button value or private_metadata."""
        return json.dumps({"t": self.thread_id, "i": self.interrupt_id}, separators=(",", ":"))

    @classmethod
    def decode(cls, value: object) -> PauseRef:
        """Raises ValueError on anything that is not a value we wrote (it arrives from Slack
        in a button value or private_metadata, and a forged one can be anything)."""
        return cls.from_fields(_json_object(value))

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> PauseRef:
        """The reference in decoded JSON (an edit modal's metadata holds more beside it)."""
        thread_id, interrupt_id = data.get("t"), data.get("i")
        if not isinstance(thread_id, str) or not isinstance(interrupt_id, str):
            raise ValueError("not a pause reference")
        return cls(thread_id, interrupt_id)


@dataclass(frozen=True)
class ApprovalCard:
    """Everything an approval card shows."""

    ref: PauseRef
    tool: str
    arguments: dict[str, Any]
    reason: str | None
    requested_by: str
    expires_at: float


Outcome = Literal["approved", "edited", "denied", "expired", "superseded"]


def tool_in_words(name: str) -> str:
    """`save_note` → "Save note"."""
    words = name.replace("-", "_").split("_")
    return " ".join(word for word in words if word).capitalize() or name


def slack_date(epoch: float, fallback: str = "soon") -> str:
    """A timestamp each reader sees in their own time zone."""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def approval_blocks(card: ApprovalCard) -> list[Block]:
    """The card as posted: what, why, who asked, when it expires, and the buttons."""
    shortened = _any_shortened(card.arguments)
    buttons: list[Block] = [
        _button("Approve", APPROVE, card.ref.encode(), style="primary"),
        _button("Edit & approve", EDIT, card.ref.encode()),
        _button("Deny", DENY, card.ref.encode(), style="danger"),
    ]
    if shortened:
        buttons.append(_button("Show full arguments", VIEW_ARGUMENTS, card.ref.encode()))
    return [
        *_summary(card),
        {"type": "actions", "block_id": _block_id("decide"), "elements": buttons},
        _context(f"Requested by <@{card.requested_by}> · expires {slack_date(card.expires_at)}"),
    ]


def decided_blocks(
    card: ApprovalCard, outcome: Outcome, actor: str | None, at: float, detail: str | None = None
) -> list[Block]:
    """The same card after its end state: no buttons, and a line saying what happened."""
    who = f"<@{actor}>" if actor else "nobody"
    when = slack_date(at, "just now")
    line = {
        "approved": f"✅ Approved by {who} · {when}",
        "edited": f"✏️ Edited and approved by {who} · {when}",
        "denied": f"❌ Denied by {who} · {when}",
        "expired": f"⌛ Expired {when}: nobody approved it, so nothing ran",
        "superseded": "This request is no longer pending; nothing more will run from this card.",
    }[outcome]
    if detail:  # every line quoted, not just the first
        line += "\n>" + escape_mrkdwn(_shorten(detail, SHOWN_REASON_CHARS)).replace("\n", "\n>")
    summary = _summary(card)
    if outcome == "edited":
        summary[0]["text"]["text"] += " _(arguments edited by the approver)_"
    return [*summary, _section(line)]


def approval_fallback_text(card: ApprovalCard) -> str:
    """Notification text for the card (shown where blocks are not)."""
    return f"Approval needed: {tool_in_words(card.tool)}"


QUESTION_LIMIT = 2800
"""A question's characters shown: its section holds 3,000 with the mention and escapes."""


def question_text(asked_of: str, question: str) -> str:
    """The question, mentioning the person expected to answer (a long one is shortened)."""
    limit = QUESTION_LIMIT
    while len(shown := escape_mrkdwn(_shorten(question, limit))) > QUESTION_LIMIT:
        limit = max(1, limit * QUESTION_LIMIT // len(shown) - 1)  # escapes made it longer
    return f"<@{asked_of}> {shown}"


def question_blocks(asked_of: str, question: str, anyone: bool) -> list[Block]:
    """The question in the thread, and how to answer it."""
    how = "Reply in this thread to answer." if anyone else f"<@{asked_of}>, reply in this thread."
    return [_section(question_text(asked_of, question)), _context(f"❓ {how}")]


def answered_question_blocks(asked_of: str, question: str, note: str) -> list[Block]:
    """The question after it was answered or expired."""
    return [_section(question_text(asked_of, question)), _context(note)]


def item_value(item_id: int) -> str:
    """A Stop or Retry button's value: the inbox item it acts on, never just the thread."""
    return json.dumps({"i": item_id}, separators=(",", ":"))


ITEM_IDS = range(1, 2**63)
"""Inbox item ids as the database stores them: a larger number cannot name one."""


def item_of(value: object) -> int | None:
    """The inbox item a Stop or Retry button names; None for buttons of older versions
    (and for anything else a forged click may carry)."""
    try:
        item = _json_object(value).get("i")
    except ValueError:
        return None
    if isinstance(item, int) and not isinstance(item, bool) and item in ITEM_IDS:
        return item
    return None


def stop_actions(value: str) -> list[Block]:
    """The Stop button shown under an answer while it streams."""
    return [
        {
            "type": "actions",
            "block_id": _block_id("stop"),
            "elements": [_button("Stop", STOP, value)],
        }
    ]


def retry_actions(value: str) -> list[Block]:
    """The Retry button under an answer that could not continue on its own."""
    return [
        {
            "type": "actions",
            "block_id": _block_id("retry"),
            "elements": [_button("Retry", RETRY, value, style="primary")],
        }
    ]


def deny_modal(card: ApprovalCard) -> View:
    """Asks for an optional reason; submitting denies."""
    return {
        "type": "modal",
        "callback_id": DENY_MODAL,
        "private_metadata": card.ref.encode(),
        "title": {"type": "plain_text", "text": "Deny request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(f"Deny *{escape_mrkdwn(tool_in_words(card.tool))}*? Nothing will run."),
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason (the agent will see it)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }


def edit_modal(card: ApprovalCard, schema: dict[str, Any]) -> View:
    """One field per argument, prefilled; non-text values are edited as JSON.

    A value too long for an input is not prefilled with a cut copy (submitting that would run
    the tool with the value cut short): its field starts empty and must be replaced.
    """
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    blocks: list[Block] = []
    text_fields: list[str] = []
    too_long: list[str] = []
    for name in properties or card.arguments:
        value = card.arguments.get(name)
        is_text = properties.get(name, {}).get("type") == "string" or isinstance(value, str)
        initial = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        element: Block = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": is_text and len(str(initial)) > 60,
        }
        block: Block = {
            "type": "input",
            "block_id": f"arg:{name}",
            "optional": name not in required,
            "label": {"type": "plain_text", "text": (name if is_text else f"{name} (JSON)")[:2000]},
            "element": element,
        }
        if value is not None and len(initial) > INPUT_CHARS:
            too_long.append(name)
            block["optional"] = True  # so the check below, with its message, is what stops it
            block["hint"] = {"type": "plain_text", "text": _too_long_hint(len(initial))}
        elif value is not None and initial:
            element["initial_value"] = initial
        if is_text:
            text_fields.append(name)
        blocks.append(block)
    metadata = json.loads(card.ref.encode())
    metadata["text"] = text_fields
    if too_long:
        metadata["long"] = too_long
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": "Edit & approve"},
        "submit": {"type": "plain_text", "text": "Approve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(
                f"Edit the arguments of *{escape_mrkdwn(tool_in_words(card.tool))}*;"
                " it runs with exactly what you submit."
            ),
            *blocks,
        ],
    }


def arguments_modal(card: ApprovalCard) -> View:
    """The full arguments, for values the card had to shorten."""
    full = json.dumps(card.arguments, indent=2, ensure_ascii=False)
    pieces = [
        code
        for start in range(0, len(full), SECTION_CHARS - 10)
        for code in _code_blocks(full[start : start + SECTION_CHARS - 10])
    ]
    blocks = [_section(code) for code in pieces[:MODAL_SECTIONS]]
    if len(pieces) > MODAL_SECTIONS:
        blocks.append(_context(f"…cut here: {len(full):,} characters are too many to show."))
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Full arguments"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def parse_edit_submission(view: object) -> tuple[PauseRef, dict[str, Any], dict[str, str]]:
    """The edited arguments from a submitted edit modal, and per-field errors for bad JSON.

    Raises ValueError on a view we did not write: it comes from Slack, and a forged one can
    hold anything anywhere.
    """
    if not isinstance(view, dict):
        raise ValueError("not a view")
    metadata = _json_object(view.get("private_metadata"))
    ref = PauseRef.from_fields(metadata)
    text_fields, too_long = _names(metadata, "text"), _names(metadata, "long")
    arguments: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for block_id, raw in _submitted_values(view).items():
        name = block_id.removeprefix("arg:")
        if raw is None and name in too_long:
            errors[block_id] = TOO_LONG_ERROR
        elif raw is None:
            continue
        elif name in text_fields:
            arguments[name] = raw
        elif (parsed := _json_value(raw)) is not _NOT_JSON:
            arguments[name] = parsed
        else:
            errors[block_id] = "This field takes JSON (a number, true/false, a list…)."
    return ref, arguments, errors


_NOT_JSON = object()


def _json_value(raw: str) -> Any:
    """`raw` parsed, or _NOT_JSON: also for nesting too deep or a number too long to read."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _json_object(value: object) -> dict[str, Any]:
    """The JSON object `value` holds; ValueError for anything else (not text, not JSON…)."""
    parsed = _json_value(value) if isinstance(value, str) else _NOT_JSON
    if not isinstance(parsed, dict):
        raise ValueError("not a pause reference")
    return parsed


def _names(metadata: dict[str, Any], key: str) -> set[str]:
    names = metadata.get(key, [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"private_metadata.{key} is not a list of names")
    return set(names)


def _submitted_values(view: dict[str, Any]) -> dict[str, str | None]:
    """Each `arg:` input's text (None when left empty), by block id."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        raise ValueError("a view without state.values")
    submitted: dict[str, str | None] = {}
    for block_id, actions in values.items():
        if not block_id.startswith("arg:"):
            continue
        action = actions.get("value", {}) if isinstance(actions, dict) else None
        raw = action.get("value") if isinstance(action, dict) else None
        if not isinstance(action, dict) or not isinstance(raw, str | None):
            raise ValueError(f"state.values.{block_id} is not a text input's state")
        submitted[block_id] = raw
    return submitted


def _too_long_hint(length: int) -> str:
    return (
        f"The current value has {length:,} characters, too many for this box, so it is not shown."
        " Type a replacement, or cancel and use Approve on the card to keep it."
    )


def _summary(card: ApprovalCard) -> list[Block]:
    blocks = [_section(f"*Approval needed:* {escape_mrkdwn(tool_in_words(card.tool))}")]
    if card.reason:
        blocks.append(
            _section(f"*Why:* {escape_mrkdwn(_shorten(card.reason, SHOWN_REASON_CHARS))}")
        )
    shown = list(card.arguments.items())[:SHOWN_ARGUMENTS]
    fields = [
        {
            "type": "mrkdwn",
            "text": f"*{escape_mrkdwn(_shorten(name, SHOWN_NAME_CHARS))}*\n{_shown_value(value)}",
        }
        for name, value in shown
    ]
    if not fields:
        blocks.append(_section("_No arguments._"))
    for start in range(0, len(fields), 10):
        blocks.append(
            {"type": "section", "block_id": _block_id("args"), "fields": fields[start : start + 10]}
        )
    if hidden := len(card.arguments) - len(shown):
        blocks.append(_context(f"…and {hidden} more arguments, not shown on the card."))
    return blocks


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _shown_value(value: Any) -> str:
    return escape_mrkdwn(_shorten(_value_text(value), SHOWN_VALUE_CHARS)) or "_(empty)_"


def _any_shortened(arguments: dict[str, Any]) -> bool:
    return len(arguments) > FULL_ARGUMENTS_AFTER or any(
        len(name) > SHOWN_NAME_CHARS or len(_value_text(value)) > SHOWN_VALUE_CHARS
        for name, value in arguments.items()
    )


def _code_blocks(text: str) -> list[str]:
    """`text` as escaped code blocks that each fit a section whole, split where escaping grew it."""
    code = "```" + escape_mrkdwn(text).replace("```", "``\u200b`") + "```"
    if len(code) <= SECTION_CHARS or len(text) <= 1:
        return [code]
    half = len(text) // 2
    return _code_blocks(text[:half]) + _code_blocks(text[half:])


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _section(text: str) -> Block:
    return {
        "type": "section",
        "block_id": _block_id("text"),
        "text": {"type": "mrkdwn", "text": _shorten(text, SECTION_CHARS)},
    }


def _context(text: str) -> Block:
    return {
        "type": "context",
        "block_id": _block_id("context"),
        "elements": [{"type": "mrkdwn", "text": _shorten(text, SECTION_CHARS)}],
    }


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _block_id(kind: str) -> str:
    """Fresh on every render: Slack wants a new block_id when a message is updated."""
    return f"{kind}-{uuid.uuid4().hex[:8]}"
