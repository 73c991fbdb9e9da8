"""Slack's size and shape rules for message text, Block Kit blocks and modal views.

Plain dicts sent through slack_sdk are never validated client-side, so this is where a bot
learns that its blocks would be rejected. Error codes, chosen once and used everywhere:

* `msg_too_long`: `text` over 4,000 characters (the documented chat.update limit; real Slack
  silently truncates chat.postMessage at 40,000, but 4,000 is the practical limit) or
  `markdown_text` over 12,000.
* `msg_blocks_too_many`: more than 50 blocks in a message.
* `msg_blocks_too_long`: the markdown blocks of one message hold more than 12,000 characters
  together (each block alone is checked as `invalid_blocks`).
* `invalid_blocks_format`: `blocks` is not a JSON array of objects.
* `invalid_blocks`: anything else, with `errors` like Slack's
  `"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"`.
* Views answer `invalid_arguments` with the problems in `response_metadata.messages`.

After the hand-written checks, each block that passed is round-tripped through slack_sdk's
models (`Block.parse(...).to_dict()`), which catches rules the SDK knows and we did not spell out.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from .errors import SlackError, invalid

MAX_TEXT = 4_000
MAX_MARKDOWN_TEXT = 12_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100

BLOCK_TYPES = frozenset(
    {
        "actions", "context", "context_actions", "divider", "file", "header", "image",
        "input", "markdown", "rich_text", "section", "table", "video",
    }
)  # fmt: skip
CONTEXT_ACTION_TYPES = ("feedback_buttons", "icon_button")
ELEMENT_TYPES = frozenset(
    {
        "button", "checkboxes", "channels_select", "conversations_select", "datepicker",
        "datetimepicker", "email_text_input", "external_select", "feedback_buttons",
        "file_input", "icon_button", "image", "multi_channels_select",
        "multi_conversations_select", "multi_external_select", "multi_static_select",
        "multi_users_select", "number_input", "overflow", "plain_text_input", "radio_buttons",
        "rich_text_input", "static_select", "timepicker", "url_text_input", "users_select",
        "workflow_button",
    }
)  # fmt: skip


def check_message(text: Any, blocks: Any) -> None:
    """Raise the SlackError Slack would answer for this message content, if any."""
    if text is not None and len(str(text)) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is None:
        return
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise SlackError("msg_blocks_too_many")
    problems = _Checker("/blocks").blocks(blocks)
    if problems:
        raise invalid("invalid_blocks", problems)
    markdown = sum(len(str(b.get("text", ""))) for b in blocks if b.get("type") == "markdown")
    if markdown > MAX_MARKDOWN_TEXT:
        raise SlackError("msg_blocks_too_long")


def check_view(view: Any) -> None:
    """Raise `invalid_arguments` when a modal would be rejected by views.open/update/push."""
    problems = view_problems(view)
    if problems:
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )


def view_problems(view: Any) -> list[str]:
    """Everything wrong with a view payload, as Slack-style messages with JSON pointers."""
    if not isinstance(view, dict):
        return ["must be a JSON object [json-pointer:/view]"]
    c = _Checker("/view/blocks")
    if view.get("type") not in ("modal", "home"):
        c.add("must be one of [modal, home]", "/view/type")
    if view.get("type") == "modal":
        c.text(view.get("title"), "/view/title", max_len=24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            c.text(view[key], f"/view/{key}", max_len=24, plain_only=True)
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        c.add("must be an array of blocks", "/view/blocks")
        return c.problems
    if len(blocks) > MAX_VIEW_BLOCKS:
        c.add(f"must provide no more than {MAX_VIEW_BLOCKS} items", "/view/blocks")
    has_input = any(b.get("type") == "input" for b in blocks)
    if view.get("type") == "modal" and has_input and view.get("submit") is None:
        c.add("must provide a submit property when using input blocks", "/view/submit")
    c.length(view.get("private_metadata"), "/view/private_metadata", 3_000)
    c.length(view.get("callback_id"), "/view/callback_id", 255)
    c.length(view.get("external_id"), "/view/external_id", 255)
    c.blocks(blocks)
    if not c.problems:
        c.sdk(lambda: View(**view).to_dict(), "/view")
    return c.problems


class _Checker:
    """Collects problems while walking blocks; one instance per message or view."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.problems: list[str] = []
        self._block_ids: set[str] = set()

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    def length(self, value: Any, pointer: str, max_len: int, *, min_len: int = 0) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.add("must be a string", pointer)
        elif len(value) > max_len:
            self.add(f"must be less than {max_len + 1} characters", pointer)
        elif len(value) < min_len:
            self.add(f"must be more than {min_len - 1} characters", pointer)

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        max_len: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        """A composition text object: {"type": "plain_text"|"mrkdwn", "text": 1..max_len}."""
        if obj is None:
            if required:
                self.add("must provide an object", pointer)
            return
        kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if not isinstance(obj, dict) or obj.get("type") not in kinds:
            self.add(f"must be one of [{', '.join(kinds)}]", f"{pointer}/type")
            return
        if not isinstance(obj.get("text"), str):
            self.add("must provide a string", f"{pointer}/text")
            return
        self.length(obj["text"], f"{pointer}/text", max_len, min_len=1)

    def blocks(self, blocks: list[Any]) -> list[str]:
        for i, block in enumerate(blocks):
            before = len(self.problems)
            self.block(block, f"{self.root}/{i}")
            if len(self.problems) == before and block.get("type") in BLOCK_TYPES:
                self.sdk(functools.partial(_parse_block, block), f"{self.root}/{i}")
        return self.problems

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", ptr)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(f"unsupported type {kind!r}", f"{ptr}/type")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.length(block_id, f"{ptr}/block_id", 255, min_len=1)
            if block_id in self._block_ids:
                self.add("block_id must be unique within a message or view", f"{ptr}/block_id")
            self._block_ids.add(str(block_id))
        check = getattr(self, f"_{kind}", None)
        if check is not None:
            check(block, ptr)

    def _section(self, block: dict[str, Any], ptr: str) -> None:
        fields = block.get("fields")
        if block.get("text") is None and not fields:
            self.add("must provide either text or fields", ptr)
        self.text(block.get("text"), f"{ptr}/text", max_len=3_000, required=False)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                self.add("must provide an array of no more than 10 items", f"{ptr}/fields")
            else:
                for j, f in enumerate(fields):
                    self.text(f, f"{ptr}/fields/{j}", max_len=2_000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{ptr}/accessory")

    def _header(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block.get("text"), f"{ptr}/text", max_len=150, plain_only=True)

    def _markdown(self, block: dict[str, Any], ptr: str) -> None:
        self.length(block.get("text"), f"{ptr}/text", MAX_MARKDOWN_TEXT, min_len=1)
        if block.get("text") is None:
            self.add("must provide a string", f"{ptr}/text")

    def _context(self, block: dict[str, Any], ptr: str) -> None:
        elements = self._elements(block, ptr, 10)
        for j, el in enumerate(elements):
            if isinstance(el, dict) and el.get("type") == "image":
                self.element(el, f"{ptr}/elements/{j}")
            else:
                self.text(el, f"{ptr}/elements/{j}", max_len=3_000)

    def _actions(self, block: dict[str, Any], ptr: str) -> None:
        seen: set[str] = set()
        for j, el in enumerate(self._elements(block, ptr, 25)):
            self.element(el, f"{ptr}/elements/{j}")
            action_id = el.get("action_id") if isinstance(el, dict) else None
            if action_id is not None and action_id in seen:
                self.add("action_id must be unique within a block", f"{ptr}/elements/{j}")
            if action_id is not None:
                seen.add(str(action_id))

    def _context_actions(self, block: dict[str, Any], ptr: str) -> None:
        seen: set[str] = set()
        for j, el in enumerate(self._elements(block, ptr, 5)):
            where = f"{ptr}/elements/{j}"
            if not isinstance(el, dict) or el.get("type") not in CONTEXT_ACTION_TYPES:
                self.add("must be one of [feedback_buttons, icon_button]", where)
                continue
            self.length(el.get("action_id"), f"{where}/action_id", 255, min_len=1)
            action_id = el.get("action_id")
            if action_id is not None and action_id in seen:
                self.add("action_id must be unique within a block", where)
            if action_id is not None:
                seen.add(str(action_id))
            if el["type"] == "feedback_buttons":
                self._feedback_buttons(el, where)
            else:
                self._icon_button(el, where)

    def _feedback_buttons(self, el: dict[str, Any], ptr: str) -> None:
        """Thumbs up / down under an answer: two labelled buttons, each with a value."""
        if el.get("action_id") is None:
            self.add("must provide an action_id", f"{ptr}/action_id")
        for key in ("positive_button", "negative_button"):
            button = el.get(key)
            if not isinstance(button, dict):
                self.add("must provide an object", f"{ptr}/{key}")
                continue
            self.text(button.get("text"), f"{ptr}/{key}/text", max_len=75, plain_only=True)
            if button.get("value") is None:
                self.add("must provide a value", f"{ptr}/{key}/value")
            self.length(button.get("value"), f"{ptr}/{key}/value", 2_000, min_len=1)
            self.length(button.get("accessibility_label"), f"{ptr}/{key}/accessibility_label", 75)

    def _icon_button(self, el: dict[str, Any], ptr: str) -> None:
        if not isinstance(el.get("icon"), str) or not el["icon"]:
            self.add("must provide an icon", f"{ptr}/icon")
        self.text(el.get("text"), f"{ptr}/text", max_len=75, plain_only=True)
        self.length(el.get("value"), f"{ptr}/value", 2_000)
        self.length(el.get("accessibility_label"), f"{ptr}/accessibility_label", 75)
        users = el.get("visible_to_user_ids")
        if users is not None and (not isinstance(users, list) or len(users) > 10):
            self.add("must provide an array of no more than 10 items", f"{ptr}/visible_to_user_ids")
        if el.get("confirm") is not None:
            self._confirm(el["confirm"], f"{ptr}/confirm")

    def _image(self, block: dict[str, Any], ptr: str) -> None:
        self.element(block, ptr)
        if block.get("title") is not None:
            self.text(block["title"], f"{ptr}/title", max_len=2_000, plain_only=True)

    def _input(self, block: dict[str, Any], ptr: str) -> None:
        self.text(block.get("label"), f"{ptr}/label", max_len=2_000, plain_only=True)
        if block.get("hint") is not None:
            self.text(block["hint"], f"{ptr}/hint", max_len=2_000, plain_only=True)
        if block.get("element") is None:
            self.add("must provide an element", f"{ptr}/element")
        else:
            self.element(block["element"], f"{ptr}/element")

    def _rich_text(self, block: dict[str, Any], ptr: str) -> None:
        if not isinstance(block.get("elements"), list):
            self.add("must provide an array", f"{ptr}/elements")

    def _elements(self, block: dict[str, Any], ptr: str, max_items: int) -> list[Any]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add("must provide a non-empty array", f"{ptr}/elements")
            return []
        if len(elements) > max_items:
            self.add(f"must provide an array of no more than {max_items} items", f"{ptr}/elements")
        return elements

    def element(self, el: Any, ptr: str) -> None:
        """An interactive element or image; buttons get every documented limit."""
        if not isinstance(el, dict) or el.get("type") not in ELEMENT_TYPES:
            kind = el.get("type") if isinstance(el, dict) else None
            self.add(f"unsupported element type {kind!r}", f"{ptr}/type")
            return
        self.length(el.get("action_id"), f"{ptr}/action_id", 255, min_len=1)
        if el.get("placeholder") is not None:
            self.text(el["placeholder"], f"{ptr}/placeholder", max_len=150, plain_only=True)
        kind = el["type"]
        if kind == "button":
            self.text(el.get("text"), f"{ptr}/text", max_len=75, plain_only=True)
            self.length(el.get("value"), f"{ptr}/value", 2_000)
            self.length(el.get("url"), f"{ptr}/url", 3_000)
            if el.get("style") is not None and el["style"] not in ("primary", "danger"):
                self.add("must be one of [primary, danger]", f"{ptr}/style")
            if el.get("confirm") is not None:
                self._confirm(el["confirm"], f"{ptr}/confirm")
        elif kind == "image":
            if el.get("image_url") is None and el.get("slack_file") is None:
                self.add("must provide image_url or slack_file", ptr)
            self.length(el.get("image_url"), f"{ptr}/image_url", 3_000)
            self.length(el.get("alt_text"), f"{ptr}/alt_text", 2_000, min_len=1)
            if el.get("alt_text") is None:
                self.add("must provide alt_text", f"{ptr}/alt_text")
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                value = el.get(key)
                if value is not None and (not isinstance(value, int) or not 0 <= value <= 3_000):
                    self.add("must be an integer from 0 to 3000", f"{ptr}/{key}")
            self.length(el.get("initial_value"), f"{ptr}/initial_value", 3_000)
        elif kind in ("static_select", "multi_static_select", "overflow"):
            options = el.get("options")
            limit = 5 if kind == "overflow" else 100
            if options is not None and (not isinstance(options, list) or len(options) > limit):
                self.add(f"must provide an array of no more than {limit} items", f"{ptr}/options")

    def _confirm(self, confirm: Any, ptr: str) -> None:
        if not isinstance(confirm, dict):
            self.add("must be an object", ptr)
            return
        self.text(confirm.get("title"), f"{ptr}/title", max_len=100, plain_only=True)
        self.text(confirm.get("text"), f"{ptr}/text", max_len=300)
        self.text(confirm.get("confirm"), f"{ptr}/confirm", max_len=30, plain_only=True)
        self.text(confirm.get("deny"), f"{ptr}/deny", max_len=30, plain_only=True)
        style = confirm.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.add("must be one of [primary, danger]", f"{ptr}/style")

    def sdk(self, build: Callable[[], object], pointer: str) -> None:
        """Run slack_sdk's own model validation; report what it rejects."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown-key warnings are not rejections
            try:
                build()
            except (SlackObjectFormationError, TypeError, KeyError, ValueError) as exc:
                self.add(f"rejected by slack_sdk models: {exc}", pointer)


def _parse_block(block: dict[str, Any]) -> None:
    parsed = Block.parse(block)
    if parsed is not None:
        parsed.to_dict()
