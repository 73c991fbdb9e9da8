"""Block Kit for pauses: the approval card, its decided states, the question, and the modals.

Pure functions from values to blocks. Everything shown comes from the exact arguments that
will run, escaped as untrusted text; only mentions and dates the bot writes itself use `<…>`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.approvers import join_or
from bot.argument_text import ShownArgument, in_words, label, shown_arguments
from bot.formatting import escape_mrkdwn
from bot.slack_ids import is_group_id, is_user_id

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

SHOWN_ARGUMENTS = 100
"""More would not fit in a message's 50 blocks; the rest are in the full-arguments modal."""
ARGUMENT_BLOCKS = 36
"""Blocks the arguments may take: the rest of the card's 50 are its headline, why, policy,
approvals, buttons and footer."""
DESCRIBED_UP_TO = 6
"""A card with more arguments than this leaves out their descriptions: it is long already."""
FULL_ARGUMENTS_AFTER = 30
SHOWN_REASON_CHARS = 600
SHOWN_RULE_CHARS = 300
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
    schema: dict[str, Any] = field(default_factory=dict)
    """The JSON schema of the tool's arguments: their order, titles and descriptions."""
    original_arguments: dict[str, Any] | None = None
    """What was proposed, when an edit changed it: each changed argument shows old → new."""
    edited_by: str | None = None
    """Who made that edit (shown while the card still waits for more approvals)."""
    rule: str | None = None
    """The policy rule that asked, e.g. "rule 2 (payments__refund, when args.amount > 500)";
    None for the default rule, which needs no explaining."""
    rule_reason: str | None = None
    approvals_needed: int = 1
    approved_by: tuple[str, ...] = ()
    """Who approved so far, in order, while more approvals are needed."""
    approvers: tuple[str, ...] = ()
    """The user (U…/W…) and group (S…) ids who may decide; empty: anyone in the conversation."""


Outcome = Literal["approved", "edited", "denied", "expired", "superseded"]


def tool_in_words(name: str) -> str:
    """`save_note` → "Save note"; an MCP server's `tickets__close_ticket` → "Close ticket ·
    tickets": what it does first, then whose tool it is."""
    server, separator, tool = name.partition("__")
    if separator and server and tool:
        return f"{in_words(tool)} · {server}"
    return in_words(name)


def slack_date(epoch: float, fallback: str = "soon") -> str:
    """A timestamp each reader sees in their own time zone."""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def approval_blocks(card: ApprovalCard) -> list[Block]:
    """The card as posted: what, why, who asked, when it expires, and the buttons.

    A card still waiting for more approvals is rendered by this too (it keeps its buttons):
    the same card always renders the same way.
    """
    arguments = _ArgumentBlocks.of(card, describe=True)
    buttons: list[Block] = [
        _button("Approve", APPROVE, card.ref.encode(), style="primary"),
        _button("Edit & approve", EDIT, card.ref.encode()),
        _button("Deny", DENY, card.ref.encode(), style="danger"),
    ]
    if arguments.shortened:
        buttons.append(_button("Show full arguments", VIEW_ARGUMENTS, card.ref.encode()))
    return [
        *_summary(card, arguments),
        *_changed_by(card, arguments),
        *_policy(card),
        *_progress(card),
        {"type": "actions", "block_id": _block_id("decide"), "elements": buttons},
        _context(f"Requested by <@{card.requested_by}> · expires {slack_date(card.expires_at)}"),
    ]


def plain_approval_blocks(card: ApprovalCard, refusal: str) -> list[Block]:
    """The card when Slack refused the full one (pitfall 40): the tool, why it is plain, and
    the buttons, so the run is never left waiting for a card nobody can see."""
    line = (
        f"*Approval needed: {escape_mrkdwn(tool_in_words(card.tool))}*\n"
        f"Slack refused the full card ({escape_mrkdwn(refusal)}); *Show full arguments* has them."
    )
    buttons = [
        _button("Approve", APPROVE, card.ref.encode(), style="primary"),
        _button("Deny", DENY, card.ref.encode(), style="danger"),
        _button("Show full arguments", VIEW_ARGUMENTS, card.ref.encode()),
    ]
    return [
        _section(line),
        {"type": "actions", "block_id": _block_id("decide"), "elements": buttons},
        _context(f"Requested by <@{card.requested_by}> · expires {slack_date(card.expires_at)}"),
    ]


def decided_blocks(
    card: ApprovalCard, outcome: Outcome, actor: str | None, at: float, detail: str | None = None
) -> list[Block]:
    """The same card after its end state: no buttons, and a line saying what happened."""
    line = _outcome_line(card, outcome, actor, slack_date(at, "just now"))
    if detail:  # every line quoted, not just the first
        line += "\n>" + escape_mrkdwn(_shorten(detail, SHOWN_REASON_CHARS)).replace("\n", "\n>")
    arguments = _ArgumentBlocks.of(card, describe=False)  # a record now: kept short
    summary = _summary(card, arguments)
    if outcome == "edited" and card.original_arguments is None:  # no old values to show
        summary[0]["text"]["text"] += " _(arguments edited by the approver)_"
    edited_here = outcome == "edited" and card.edited_by in (None, actor)
    changed = [] if edited_here else _changed_by(card, arguments)
    return [*summary, *changed, *_policy(card), _section(line)]


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
    schema = schema or card.schema
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    blocks: list[Block] = []
    text_fields: list[str] = []
    too_long: list[str] = []
    for name in properties or card.arguments:
        value = card.arguments.get(name)
        spec = properties.get(name)
        spec = spec if isinstance(spec, dict) else {}
        is_text = spec.get("type") == "string" or isinstance(value, str)
        shown = label(name, spec)
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
            "label": {"type": "plain_text", "text": shown if is_text else f"{shown} (JSON)"},
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


@dataclass(frozen=True)
class _ArgumentBlocks:
    """The arguments' part of a card, and whether the card had to leave any of it out."""

    blocks: list[Block]
    shortened: bool
    changed: list[str]

    @classmethod
    def of(cls, card: ApprovalCard, *, describe: bool) -> _ArgumentBlocks:
        """One line per argument, packed into sections; with `describe`, a described argument
        ends its section and its description follows in small print (on short cards)."""
        shown, total = shown_arguments(
            card.arguments, card.schema, card.original_arguments, limit=SHOWN_ARGUMENTS
        )
        if not total:
            return cls([_section("_No arguments._")], False, [])
        blocks: list[Block] = []
        lines: list[str] = []
        placed: list[ShownArgument] = []
        for argument in shown:
            description = argument.description if describe and total <= DESCRIBED_UP_TO else None
            fits = bool(lines) and len("\n".join([*lines, argument.line])) <= SECTION_CHARS
            needed = len(blocks) + bool(lines) + (not fits) + bool(description)
            if needed > ARGUMENT_BLOCKS - 1:  # one is kept for "…and N more"
                break
            if lines and not fits:
                blocks.append(_section("\n".join(lines)))
                lines = []
            lines.append(argument.line)
            placed.append(argument)
            if description:
                blocks += [_section("\n".join(lines)), _context(description)]
                lines = []
        if lines:
            blocks.append(_section("\n".join(lines)))
        if hidden := total - len(placed):
            blocks.append(_context(f"…and {hidden} more arguments, not shown on the card."))
        shortened = (
            hidden > 0
            or total > FULL_ARGUMENTS_AFTER
            or any(argument.shortened for argument in placed)
        )
        return cls(blocks, shortened, [a.label for a in placed if a.changed])


def _summary(card: ApprovalCard, arguments: _ArgumentBlocks) -> list[Block]:
    blocks = [_section(f"*Approval needed:* {escape_mrkdwn(tool_in_words(card.tool))}")]
    if card.reason:
        blocks.append(
            _section(f"*Why:* {escape_mrkdwn(_shorten(card.reason, SHOWN_REASON_CHARS))}")
        )
    return [*blocks, *arguments.blocks]


def _changed_by(card: ApprovalCard, arguments: _ArgumentBlocks) -> list[Block]:
    """Which arguments an edit changed, and by whom (the lines above show old → new)."""
    if not arguments.changed:
        return []
    who = _mention(card.edited_by) if card.edited_by else "an approver"
    changed = escape_mrkdwn(_shorten(", ".join(arguments.changed), SHOWN_REASON_CHARS))
    return [_context(f"✏️ Changed by {who}: {changed}")]


def _policy(card: ApprovalCard) -> list[Block]:
    """Which policy rule asked for this approval, and its reason."""
    if not card.rule:
        return []
    text = f"Asked by policy: {escape_mrkdwn(_shorten(card.rule, SHOWN_RULE_CHARS))}"
    if card.rule_reason:
        text += f" — {escape_mrkdwn(_shorten(card.rule_reason, SHOWN_REASON_CHARS))}"
    return [_context(text)]


def _progress(card: ApprovalCard) -> list[Block]:
    """How many approvals it needs and has, and who may give them."""
    parts: list[str] = []
    approved = _approvals(card)
    if card.approvals_needed > 1 and approved:
        names = ", ".join(_mention(user) for user in approved)
        parts.append(f"{len(approved)} of {card.approvals_needed} approvals: {names}")
    elif card.approvals_needed > 1:
        parts.append(f"Needs {card.approvals_needed} approvals")
    if card.approvers:
        parts.append(f"Can decide: {_deciders(card.approvers)}")
    return [_context(" · ".join(parts))] if parts else []


def _outcome_line(card: ApprovalCard, outcome: Outcome, actor: str | None, when: str) -> str:
    who = f"<@{actor}>" if actor else "nobody"
    earlier = [user for user in _approvals(card) if user != actor]
    if outcome == "approved":
        everyone = [*earlier, actor] if actor else earlier
        return f"✅ Approved by {_join_and([_mention(u) for u in everyone]) or 'nobody'} · {when}"
    if outcome == "edited":
        also = f" · also approved by {_join_and([_mention(u) for u in earlier])}" if earlier else ""
        return f"✏️ Edited and approved by {who}{also} · {when}"
    had = ""
    if card.approvals_needed > 1 and earlier:
        names = ", ".join(_mention(user) for user in earlier)
        had = f"{len(earlier)} of {card.approvals_needed} approvals ({names})"
    if outcome == "denied":
        return f"❌ Denied by {who} · {when}" + (f" · it had {had}" if had else "")
    if outcome == "expired" and had:
        return f"⌛ Expired {when} with only {had}, so nothing ran"
    if outcome == "expired":
        return f"⌛ Expired {when}: nobody approved it, so nothing ran"
    return "This request is no longer pending; nothing more will run from this card."


def _approvals(card: ApprovalCard) -> list[str]:
    """Who approved so far, each person once."""
    return list(dict.fromkeys(card.approved_by))


def _mention(user: str) -> str:
    """A mention of a user id; anything else is shown as text, so it cannot ping."""
    return f"<@{user}>" if is_user_id(user) else escape_mrkdwn(user)


def _deciders(ids: Sequence[str]) -> str:
    """`<@U1>, <@U2> or members of <!subteam^S1>`."""
    groups = [f"<!subteam^{i}>" for i in ids if is_group_id(i)]
    names = [_mention(i) for i in ids if not is_group_id(i)]
    if groups:
        names.append("members of " + join_or(groups))
    return join_or(names)


def _join_and(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    *first, last = names or [""]
    return f"{', '.join(first)} and {last}" if first else last


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


def asked_in(channel: str) -> Block:
    """The line on a card sent by DM: where the conversation it belongs to is."""
    return _context(f"📨 You can decide this request from <#{channel}>.")
