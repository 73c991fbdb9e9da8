"""The approval card, its end states, the question, Stop/Retry and the modals, as people see them.

Every message's blocks and every modal go through the emulator's Slack rules and slack_sdk's own
models: a card Slack rejects is a pause nobody can answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Literal

import pytest
from slack_sdk.models.blocks import Block as SdkBlock
from slack_sdk.models.views import View as SdkView

from agent.toolkit import tool_from_function
from bot import argument_text, cards
from bot.cards import ApprovalCard, Block, PauseRef, View
from playground.slack import SlackEmulator
from playground.slack.blocks import check_message, check_view
from playground.slack.records import blocks_text, iter_elements

ZWSP = "\u200b"
REF = PauseRef("T0001:C0GENERAL:1700000000.000100", "interrupt-7f3a")
EXPIRES = 1_900_000_000.0
DECIDED_AT = 1_900_000_100.0
HOSTILE = ["<!channel>", "<@U123>", "<http://evil|x>", "@here", "<!subteam^S1>", "a & b"]
# What the bot itself may write in angle brackets: mentions of the requester/actor, and dates.
BOT_WRITTEN = re.compile(r"<@U[A-Z0-9]+>|<!date\^\d+\^[^|>]*\|[^>]*>")


def card(
    arguments: dict[str, Any] | None = None,
    *,
    reason: str | None = "You asked me to write this down.",
    tool: str = "save_note",
) -> ApprovalCard:
    return ApprovalCard(
        ref=REF,
        tool=tool,
        arguments={"title": "Water", "body": "Drink more."} if arguments is None else arguments,
        reason=reason,
        requested_by="UALICE",
        expires_at=EXPIRES,
    )


def valid_message(blocks: list[Block]) -> str:
    """Check the blocks as Slack would and return the text a person reads in them."""
    check_message("fallback", blocks)
    for block in blocks:
        parsed = SdkBlock.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
    assert len(blocks) <= 50
    assert all(len(b.get("fields", [])) <= 10 for b in blocks)
    return blocks_text(blocks)


def valid_view(view: View) -> str:
    """Check the modal as views.open would and return its readable text."""
    check_view(view)
    SdkView(**view).validate_json()
    return blocks_text(view["blocks"])


def buttons(blocks: list[Block]) -> dict[str, dict[str, Any]]:
    return {el["action_id"]: el for el in iter_elements(blocks) if el["type"] == "button"}


def assert_cannot_ping(text: str) -> None:
    """Nothing in `text` but the bot's own mentions and dates can notify, link or broadcast."""
    assert "<" not in BOT_WRITTEN.sub("", text), text
    assert not re.search(r"@(here|channel|everyone)", text), text


def unescape(mrkdwn: str) -> str:
    return mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def modal_code(view: View) -> str:
    """The text inside the code blocks of a modal, as a person would read and copy it."""
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    inner = [s.removeprefix("```").removesuffix("```") for s in sections]
    return unescape("".join(inner)).replace(ZWSP, "")


def submitted(view: View, values: dict[str, str | None]) -> View:
    """The view as Slack sends it back on Submit, with these raw field values."""
    state = {
        f"arg:{name}": {"value": {"type": "plain_text_input", "value": raw}}
        for name, raw in values.items()
    }
    return {**view, "id": "V0001", "state": {"values": state}}


# ── the card as posted ──────────────────────────────────────────────────────────────────────


def test_card_shows_what_why_who_and_when() -> None:
    arguments = {"title": "Water", "count": 3, "tags": ["drinks", "health"], "note": ""}
    text = valid_message(cards.approval_blocks(card(arguments)))
    assert "*Approval needed:* Save note" in text
    assert "*Title:* Water\n*Count:* 3\n*Tags:* drinks, health\n*Note:* _(empty)_" in text
    assert "*Why:* You asked me to write this down." in text
    assert "Requested by <@UALICE>" in text
    assert f"expires <!date^{int(EXPIRES)}^" in text
    assert cards.approval_fallback_text(card()) == "Approval needed: Save note"


def test_card_without_arguments_or_reason_says_so() -> None:
    text = valid_message(cards.approval_blocks(card({}, reason=None)))
    assert "_No arguments._" in text
    assert "Why:" not in text


def test_approve_is_primary_deny_is_danger_and_every_button_names_this_pause() -> None:
    shown = buttons(cards.approval_blocks(card()))
    assert list(shown) == [cards.APPROVE, cards.EDIT, cards.DENY]
    assert shown[cards.APPROVE]["text"]["text"] == "Approve"
    assert shown[cards.APPROVE]["style"] == "primary"
    assert shown[cards.DENY]["text"]["text"] == "Deny"
    assert shown[cards.DENY]["style"] == "danger"
    assert "style" not in shown[cards.EDIT]
    for button in shown.values():
        assert PauseRef.decode(button["value"]) == REF


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_shown_literally_and_cannot_ping(hostile: str) -> None:
    hostile_card = card({"title": hostile, hostile: "x"}, reason=f"because {hostile}")
    posted = valid_message(cards.approval_blocks(hostile_card))
    decided = valid_message(cards.decided_blocks(hostile_card, "denied", "UBOB", 0, hostile))
    for text in (posted, decided):
        assert_cannot_ping(text)
    assert unescape(posted).replace(ZWSP, "").count(hostile) == 3  # name, value and reason


def test_hostile_text_in_questions_and_modals_cannot_ping() -> None:
    for hostile in HOSTILE:
        assert_cannot_ping(cards.question_text("UALICE", hostile))
        assert_cannot_ping(valid_message(cards.question_blocks("UALICE", hostile, anyone=True)))
        assert_cannot_ping(valid_view(cards.deny_modal(card(tool=hostile))))
        assert_cannot_ping(valid_view(cards.arguments_modal(card({"x": hostile * 900}))))


def test_long_values_are_shortened_and_shown_in_full_on_request() -> None:
    body = "".join(f"line {i:04d}. " for i in range(500))  # 5,000 characters
    long_card = card({"title": "Water", "body": body})
    blocks = cards.approval_blocks(long_card)
    text = valid_message(blocks)
    shown = re.search(r"\*Body:\* (.*)", text)
    assert shown is not None
    assert len(shown[1]) <= argument_text.SHOWN_VALUE_CHARS
    assert shown[1].startswith("line 0000. line 0001.")
    assert shown[1].endswith("…")
    assert "line 0499" not in text

    full = buttons(blocks)[cards.VIEW_ARGUMENTS]
    assert full["text"]["text"] == "Show full arguments"
    assert PauseRef.decode(full["value"]) == REF

    modal = cards.arguments_modal(long_card)
    valid_view(modal)
    assert json.loads(modal_code(modal)) == {"title": "Water", "body": body}


def test_short_values_get_no_full_arguments_button() -> None:
    assert cards.VIEW_ARGUMENTS not in buttons(cards.approval_blocks(card()))


def test_full_arguments_are_whole_even_when_escaping_makes_them_longer() -> None:
    # Escaping turns each of these into 4-5 characters; the modal must still show every one.
    value = "<&>```" * 1_000
    modal = cards.arguments_modal(card({"value": value}))
    valid_view(modal)
    assert json.loads(modal_code(modal)) == {"value": value}
    assert all(b["text"]["text"].count("```") == 2 for b in modal["blocks"])  # fences intact


def test_too_many_full_arguments_say_where_they_were_cut() -> None:
    modal = cards.arguments_modal(card({"value": "x" * 400_000}))
    text = valid_view(modal)
    assert text.endswith("characters are too many to show.")


def test_forty_arguments_make_a_valid_card() -> None:
    arguments = {f"argument_{i:02d}": f"value {i} " * 40 for i in range(40)}
    blocks = cards.approval_blocks(card(arguments))
    text = valid_message(blocks)
    for i in range(40):
        assert f"*Argument {i:02d}:* value {i} value {i}" in text
    assert cards.VIEW_ARGUMENTS in buttons(blocks)


def test_hundreds_of_arguments_still_make_a_card_slack_accepts() -> None:
    arguments = {f"a{i}": i for i in range(600)}
    blocks = cards.approval_blocks(card(arguments))
    text = valid_message(blocks)
    assert "…and 500 more arguments, not shown on the card." in text
    assert cards.VIEW_ARGUMENTS in buttons(blocks)
    valid_message(cards.decided_blocks(card(arguments), "approved", "UBOB", DECIDED_AT))


def test_a_very_long_argument_name_still_makes_a_valid_card() -> None:
    blocks = cards.approval_blocks(card({"n" * 5_000: "x"}))
    valid_message(blocks)
    assert cards.VIEW_ARGUMENTS in buttons(blocks)


def test_block_ids_are_fresh_on_every_render() -> None:
    first = {b["block_id"] for b in cards.approval_blocks(card())}
    second = {b["block_id"] for b in cards.decided_blocks(card(), "approved", "UBOB", DECIDED_AT)}
    assert first.isdisjoint(second)


# ── end states ──────────────────────────────────────────────────────────────────────────────

DATE = f"<!date^{int(DECIDED_AT)}^"


@pytest.mark.parametrize(
    ("outcome", "actor", "detail", "expected"),
    [
        ("approved", "UBOB", None, f"✅ Approved by <@UBOB> · {DATE}"),
        ("edited", "UBOB", None, f"✏️ Edited and approved by <@UBOB> · {DATE}"),
        ("denied", "UBOB", "we keep notes in the wiki", f"❌ Denied by <@UBOB> · {DATE}"),
        ("expired", None, None, f"⌛ Expired {DATE}"),
        ("superseded", None, None, "This request is no longer pending"),
    ],
)
def test_decided_cards_have_no_buttons_and_say_what_happened(
    outcome: cards.Outcome, actor: str | None, detail: str | None, expected: str
) -> None:
    blocks = cards.decided_blocks(card(), outcome, actor, DECIDED_AT, detail)
    text = valid_message(blocks)
    assert iter_elements(blocks) == []
    assert expected in text
    assert "*Title:* Water" in text  # still says what it was about
    if detail:
        assert f"\n>{detail}" in text
    assert ("_(arguments edited by the approver)_" in text) == (outcome == "edited")


def test_a_denial_reason_on_several_lines_is_quoted_whole() -> None:
    blocks = cards.decided_blocks(card(), "denied", "UBOB", DECIDED_AT, "not now\nmaybe Friday")
    assert "\n>not now\n>maybe Friday" in valid_message(blocks)


async def test_in_slack_the_card_loses_its_buttons_once_decided() -> None:
    async with SlackEmulator() as slack:
        client = slack.bot_client()
        posted = await client.chat_postMessage(
            channel="C0GENERAL",
            text=cards.approval_fallback_text(card()),
            blocks=cards.approval_blocks(card()),
        )
        ts = posted["ts"]
        assert [b["text"]["text"] for b in slack.message("C0GENERAL", ts).buttons()] == [
            "Approve",
            "Edit & approve",
            "Deny",
        ]
        await client.chat_update(
            channel="C0GENERAL",
            ts=ts,
            text="Save note: approved",
            blocks=cards.decided_blocks(card(), "approved", "UBOB", DECIDED_AT),
        )
        message = slack.message("C0GENERAL", ts)
        assert message.buttons() == []
        assert "✅ Approved by <@UBOB>" in message.visible_text()


# ── arguments in words, policy, two-person approval ────────────────────────────────────────

REFUND_SCHEMA: dict[str, Any] = {  # as an MCP server lists its tool's input schema
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "title": "Order", "description": "The order to refund."},
        "amount": {"type": "number", "description": "Amount in euros."},
        "reason": {"type": "string", "enum": ["damaged", "late", "other"]},
        "notify_customer": {"type": "boolean", "title": "Notify Customer"},
        "items": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object"},
    },
    "required": ["order_id", "amount"],
}
REFUND: dict[str, Any] = {  # in the order the model wrote them, not the schema's
    "amount": 620.5,
    "items": ["kettle", "mug"],
    "order_id": "A-1009",
    "notify_customer": False,
    "reason": "damaged",
    "address": {"city": "Ghent", "zip": "9000"},
}
REFUND_LINES = (
    "*Order:* A-1009\nThe order to refund.\n"
    "*Amount:* 620.5\nAmount in euros.\n"
    "*Reason:* damaged\n"
    "*Notify customer:* No\n"
    "*Items:* kettle, mug\n"
    "*Address:* City: Ghent · Zip: 9000"
)
RULE = "rule 2 (payments__refund, when args.amount > 500)"


def refund_card(arguments: dict[str, Any] | None = None, **fields: Any) -> ApprovalCard:
    return replace(
        card(REFUND if arguments is None else arguments, tool="payments__refund"),
        schema=REFUND_SCHEMA,
        **fields,
    )


def contexts(blocks: list[Block]) -> list[str]:
    return [blocks_text([block]) for block in blocks if block["type"] == "context"]


def test_the_card_says_what_will_happen_in_words_from_the_schema() -> None:
    blocks = cards.approval_blocks(refund_card())
    text = valid_message(blocks)
    assert text.startswith("*Approval needed:* Refund · payments\n")
    assert REFUND_LINES in text  # schema order, titles, plain values, descriptions after
    assert not re.search(r'[{}\[\]"]', text.partition("Requested by")[0])  # no JSON to read
    assert {"The order to refund.", "Amount in euros."} <= set(contexts(blocks))
    assert cards.approval_fallback_text(refund_card()) == "Approval needed: Refund · payments"
    decided = valid_message(cards.decided_blocks(refund_card(), "approved", "UBOB", DECIDED_AT))
    assert "*Order:* A-1009\n*Amount:* 620.5\n*Reason:* damaged" in decided  # a record: terse


async def create_ticket(
    title: str,
    priority: Literal["low", "high"] = "low",
    page_on_call: bool = False,
    watcher_ids: list[str] | None = None,
) -> str:
    """Open a ticket."""
    return title


def test_a_python_tools_schema_orders_and_labels_its_arguments() -> None:
    schema = tool_from_function(create_ticket, write=True).openai_schema()["function"]
    arguments = {"watcher_ids": ["UBOB", "UCAROL"], "page_on_call": True, "title": "Disk full"}
    blocks = cards.approval_blocks(replace(card(arguments), schema=schema["parameters"]))
    text = valid_message(blocks)
    assert "*Title:* Disk full\n*Page on call:* Yes\n*Watcher ids:* UBOB, UCAROL\n" in text
    assert "Priority" not in text  # not passed, so not shown as if it were


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("save_note", "Save note"),
        ("tickets__close_ticket", "Close ticket · tickets"),
        ("deploys__rollbackRelease", "Rollback release · deploys"),
        ("get-URL", "Get URL"),
        ("Refund order", "Refund order"),
        ("<!channel>", "<!channel>"),
    ],
)
def test_tool_names_read_as_words(name: str, words: str) -> None:
    assert cards.tool_in_words(name) == words


def test_values_read_by_their_type() -> None:
    arguments = {
        "dry_run": True,
        "count": 3,
        "ratio": 0.25,
        "owner": None,
        "labels": [],
        "hosts": [f"host-{i:02d}.internal" for i in range(25)],
        "nested": {"deep": {"x": [1, 2]}, "ok": False},
        "message": "two\nlines",
    }
    blocks = cards.approval_blocks(card(arguments))
    text = valid_message(blocks)
    assert (
        "*Dry run:* Yes\n*Count:* 3\n*Ratio:* 0.25\n*Owner:* _(none)_\n*Labels:* _(none)_" in text
    )
    bullets = "\n".join(f"• host-{i:02d}.internal" for i in range(10))
    assert f"*Hosts:*\n{bullets}\n…and 15 more\n" in text
    assert '*Nested:* Deep: {"x": [1, 2]} · Ok: No\n' in text
    assert "*Message:*\ntwo\nlines" in text
    assert cards.VIEW_ARGUMENTS in buttons(blocks)  # 15 hosts are only in the full view


def test_descriptions_are_left_out_of_a_long_card() -> None:
    schema = {"properties": {f"a{i}": {"description": f"What a{i} does."} for i in range(7)}}
    blocks = cards.approval_blocks(replace(card({f"a{i}": i for i in range(7)}), schema=schema))
    assert not [c for c in contexts(blocks) if "does." in c]
    valid_message(blocks)


def test_the_card_names_the_policy_rule_that_asked() -> None:
    asked = refund_card(rule=RULE, rule_reason="Refunds over €500 need finance.")
    text = unescape(valid_message(cards.approval_blocks(asked)))
    assert f"Asked by policy: {RULE} — Refunds over €500 need finance." in text
    decided = cards.decided_blocks(asked, "denied", "UBOB", DECIDED_AT, "no")
    assert f"Asked by policy: {RULE}" in unescape(valid_message(decided))
    assert "policy" not in valid_message(cards.approval_blocks(refund_card()))  # default rule


def test_two_person_approval_shows_progress_and_keeps_its_buttons() -> None:
    waiting = refund_card(approvals_needed=2, approvers=("UBOB", "UCAROL", "S0FINANCE"))
    text = valid_message(cards.approval_blocks(waiting))
    assert (
        "Needs 2 approvals · Can decide: <@UBOB>, <@UCAROL> or members of <!subteam^S0FINANCE>"
    ) in text

    half = replace(waiting, approved_by=("UBOB", "UBOB"))  # a double click counts once
    blocks = cards.approval_blocks(half)
    text = valid_message(blocks)
    assert "1 of 2 approvals: <@UBOB> · Can decide:" in text
    assert "Needs 2" not in text
    assert list(buttons(blocks)) == [cards.APPROVE, cards.EDIT, cards.DENY]
    assert valid_message(cards.approval_blocks(half)) == text  # the same card renders the same

    done = valid_message(cards.decided_blocks(half, "approved", "UCAROL", DECIDED_AT))
    assert f"✅ Approved by <@UBOB> and <@UCAROL> · {DATE}" in done
    assert "Can decide" not in done and "approvals:" not in done
    denied = valid_message(cards.decided_blocks(half, "denied", "UCAROL", DECIDED_AT))
    assert f"❌ Denied by <@UCAROL> · {DATE}" in denied and "1 of 2 approvals (<@UBOB>)" in denied
    expired = valid_message(cards.decided_blocks(half, "expired", None, DECIDED_AT))
    assert "with only 1 of 2 approvals (<@UBOB>), so nothing ran" in expired
    assert "nobody approved" not in expired


def test_after_edit_and_approve_the_card_shows_old_and_new_per_field() -> None:
    proposed = {"title": "Water", "body": "Drink more.", "stars": 3, "note": "draft"}
    ran = {"title": "Sparkling water", "body": "Drink more.", "stars": 5, "tag": "drinks"}
    edited = replace(card(ran), original_arguments=proposed)
    text = valid_message(cards.decided_blocks(edited, "edited", "UBOB", DECIDED_AT))
    assert (
        "*Title:* ~Water~ → Sparkling water\n*Body:* Drink more.\n*Stars:* ~3~ → 5\n"
        "*Tag:* _(not set)_ → drinks\n*Note:* ~draft~ → _(removed)_\n"
    ) in text
    assert f"✏️ Edited and approved by <@UBOB> · {DATE}" in text
    assert "edited by the approver" not in text  # the old → new lines say it


def test_an_edit_while_waiting_for_a_second_approval_shows_the_change_and_who() -> None:
    edited = refund_card(
        {**REFUND, "amount": 550, "items": [f"item {i}, boxed" for i in range(3)]},
        original_arguments=REFUND,
        edited_by="UCAROL",
        approvals_needed=2,
    )
    blocks = cards.approval_blocks(edited)
    text = valid_message(blocks)
    assert "*Amount:* ~620.5~ → 550\nAmount in euros.\n" in text
    assert "*Items:*\n~kettle, mug~\n→\n• item 0, boxed\n• item 1, boxed\n• item 2, boxed\n" in text
    assert "✏️ Changed by <@UCAROL>: Amount, Items\n" in text
    assert "Needs 2 approvals" in text  # the count starts again
    assert list(buttons(blocks)) == [cards.APPROVE, cards.EDIT, cards.DENY]
    done = valid_message(cards.decided_blocks(edited, "approved", "UBOB", DECIDED_AT))
    assert "✏️ Changed by <@UCAROL>: Amount, Items" in done  # someone else edited it


def test_long_old_and_new_values_are_shortened_with_the_full_view_offered() -> None:
    old, new = "a" * 5_000, "b" * 5_000
    blocks = cards.approval_blocks(replace(card({"body": new}), original_arguments={"body": old}))
    text = valid_message(blocks)
    shown = re.search(r"\*Body:\* ~(a+…)~ → (b+…)", text)
    assert shown is not None
    assert len(shown[1]) + len(shown[2]) <= argument_text.SHOWN_VALUE_CHARS
    assert cards.VIEW_ARGUMENTS in buttons(blocks)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_schemas_rules_edits_and_ids_cannot_ping(hostile: str) -> None:
    schema = {
        "properties": {
            "x": {"title": hostile, "description": f"about {hostile}"},
            hostile: {"title": "Y", "description": hostile},
        }
    }
    arguments = {"x": hostile, hostile: [hostile, f"{hostile}, again"], "z": {hostile: hostile}}
    hostile_card = replace(
        card(arguments, tool=f"{hostile}__{hostile}", reason=hostile),
        schema=schema,
        original_arguments={"x": f"old {hostile}", hostile: []},
        edited_by=hostile,
        rule=hostile,
        rule_reason=hostile,
        approvals_needed=2,
        approved_by=(hostile, "UBOB"),
        approvers=(hostile, "UCAROL", "S0FINANCE"),
    )
    for blocks in (
        cards.approval_blocks(hostile_card),
        cards.decided_blocks(hostile_card, "approved", "UCAROL", DECIDED_AT),
        cards.decided_blocks(hostile_card, "denied", "UCAROL", DECIDED_AT, hostile),
    ):
        text = valid_message(blocks)
        assert_cannot_ping(text.replace("<!subteam^S0FINANCE>", ""))  # the bot's own mention
        assert hostile in unescape(text).replace(ZWSP, "")
    valid_view(cards.edit_modal(hostile_card, {}))


def test_the_fullest_card_still_fits_a_message() -> None:
    value = "<&>" * 200  # each character escapes to 4-5
    arguments = {f"{value}{i}": value for i in range(120)}
    full = replace(
        card(arguments, reason=value * 5),
        schema={"properties": {name: {"description": value} for name in arguments}},
        original_arguments=dict.fromkeys(arguments, value + "x"),
        edited_by="UBOB",
        rule=value * 5,
        rule_reason=value * 5,
        approvals_needed=3,
        approved_by=("UBOB", "UCAROL"),
        approvers=(*(f"U{i:04d}" for i in range(60)), "S0FINANCE"),
    )
    posted = cards.approval_blocks(full)
    for blocks in (posted, cards.decided_blocks(full, "denied", "UDAN", DECIDED_AT, value * 5)):
        text = valid_message(blocks)  # at most 50 blocks, each within Slack's sizes
        assert "more arguments, not shown on the card." in text
    assert cards.VIEW_ARGUMENTS in buttons(posted)
    five = dict(list(arguments.items())[:5])  # few enough to show their descriptions too
    few = replace(full, arguments=five, original_arguments=dict.fromkeys(five, "x"))
    assert len(contexts(cards.approval_blocks(few))) == 5 + 4  # + changed, rule, votes, footer
    valid_message(cards.approval_blocks(few))


def test_edit_modal_labels_fields_from_the_cards_schema() -> None:
    modal = cards.edit_modal(refund_card(), {})
    valid_view(modal)
    labels = [f["label"]["text"] for f in inputs(modal).values()]
    assert labels[:3] == ["Order", "Amount (JSON)", "Reason"]


async def test_in_slack_a_half_approved_card_keeps_its_buttons() -> None:
    waiting = refund_card(approvals_needed=2)
    async with SlackEmulator() as slack:
        client = slack.bot_client()
        posted = await client.chat_postMessage(
            channel="C0GENERAL",
            text=cards.approval_fallback_text(waiting),
            blocks=cards.approval_blocks(waiting),
        )
        half = replace(waiting, approved_by=("UBOB",))
        await client.chat_update(
            channel="C0GENERAL",
            ts=posted["ts"],
            text=cards.approval_fallback_text(half),
            blocks=cards.approval_blocks(half),
        )
        message = slack.message("C0GENERAL", posted["ts"])
        assert [b["text"]["text"] for b in message.buttons()] == [
            "Approve",
            "Edit & approve",
            "Deny",
        ]
        assert "1 of 2 approvals: <@UBOB>" in message.visible_text()
        assert "*Order:* A-1009" in message.visible_text()


# ── the question, Stop and Retry ────────────────────────────────────────────────────────────


def test_the_question_mentions_who_should_answer() -> None:
    text = valid_message(cards.question_blocks("UALICE", "When is the meeting?", anyone=False))
    assert text == "<@UALICE> When is the meeting?\n❓ <@UALICE>, reply in this thread."
    anyone = valid_message(cards.question_blocks("UALICE", "When?", anyone=True))
    assert anyone.endswith("❓ Reply in this thread to answer.")
    answered = cards.answered_question_blocks("UALICE", "When?", "✅ Answered by <@UBOB>")
    assert valid_message(answered) == "<@UALICE> When?\n✅ Answered by <@UBOB>"
    assert iter_elements(answered) == []


def test_stop_and_retry_buttons_name_their_item_but_answer_no_pause() -> None:
    value = cards.item_value(42)
    stop = buttons(cards.stop_actions(value))
    valid_message(cards.stop_actions(value))
    assert stop[cards.STOP]["text"]["text"] == "Stop"
    assert cards.item_of(stop[cards.STOP]["value"]) == 42

    retry = buttons(cards.retry_actions(value))[cards.RETRY]
    valid_message(cards.retry_actions(value))
    assert retry["style"] == "primary"
    assert cards.item_of(retry["value"]) == 42
    assert cards.item_of(json.dumps({"t": REF.thread_id})) is None  # an older version's button

    for value in (stop[cards.STOP]["value"], retry["value"]):
        with pytest.raises(ValueError, match="not a pause reference"):
            PauseRef.decode(value)  # a Stop value can never approve anything


@pytest.mark.parametrize("junk", ["", "approve", "[1, 2]", '{"t": "x"}', "null"])
def test_pause_ref_decode_rejects_values_we_did_not_write(junk: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (JSON errors and ours alike)
        PauseRef.decode(junk)


# ── modals ──────────────────────────────────────────────────────────────────────────────────


def test_deny_modal_asks_for_an_optional_reason() -> None:
    modal = cards.deny_modal(card())
    text = valid_view(modal)
    assert "Deny *Save note*? Nothing will run." in text
    assert modal["callback_id"] == cards.DENY_MODAL
    assert modal["submit"]["text"] == "Deny"
    assert PauseRef.decode(modal["private_metadata"]) == REF
    (reason,) = [b for b in modal["blocks"] if b["type"] == "input"]
    assert reason["optional"] is True
    assert reason["label"]["text"] == "Reason (the agent will see it)"


SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "count": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": "string"},
    },
    "required": ["title", "count"],
}
ARGUMENTS = {"title": "Water", "count": 3, "tags": ["drinks", "health"]}


def inputs(view: View) -> dict[str, dict[str, Any]]:
    return {b["block_id"].removeprefix("arg:"): b for b in view["blocks"] if b["type"] == "input"}


def test_edit_modal_prefills_text_as_text_and_the_rest_as_json() -> None:
    modal = cards.edit_modal(card(ARGUMENTS), SCHEMA)
    text = valid_view(modal)
    assert "Edit the arguments of *Save note*" in text
    assert modal["submit"]["text"] == "Approve"
    fields = inputs(modal)
    assert list(fields) == ["title", "count", "tags", "note"]
    assert fields["title"]["element"]["initial_value"] == "Water"
    assert fields["count"]["element"]["initial_value"] == "3"
    assert json.loads(fields["tags"]["element"]["initial_value"]) == ["drinks", "health"]
    assert "initial_value" not in fields["note"]["element"]  # not passed: starts empty
    assert [f["label"]["text"] for f in fields.values()] == [
        "Title",
        "Count (JSON)",
        "Tags (JSON)",
        "Note",
    ]
    assert [f["optional"] for f in fields.values()] == [False, False, True, True]


def test_edit_submission_becomes_the_arguments_that_will_run() -> None:
    modal = cards.edit_modal(card(ARGUMENTS), SCHEMA)
    values = {"title": "42", "count": "4", "tags": '["tea"]', "note": None}
    ref, arguments, errors = cards.parse_edit_submission(submitted(modal, values))
    assert ref == REF
    assert errors == {}
    assert arguments == {"title": "42", "count": 4, "tags": ["tea"]}  # text stays text


def test_edit_submission_with_bad_json_gets_an_error_on_that_field() -> None:
    modal = cards.edit_modal(card(ARGUMENTS), SCHEMA)
    values = {"title": "Water", "count": "four", "tags": "[tea"}
    _, arguments, errors = cards.parse_edit_submission(submitted(modal, values))
    assert set(errors) == {"arg:count", "arg:tags"}
    assert "JSON" in errors["arg:count"]
    assert arguments == {"title": "Water"}


def test_edit_modal_without_a_schema_offers_the_arguments_given() -> None:
    modal = cards.edit_modal(card({"title": "Water", "stars": 5}), {})
    valid_view(modal)
    fields = inputs(modal)
    assert fields["title"]["element"]["initial_value"] == "Water"
    assert fields["stars"]["label"]["text"] == "Stars (JSON)"
    _, arguments, _ = cards.parse_edit_submission(submitted(modal, {"title": "T", "stars": "6"}))
    assert arguments == {"title": "T", "stars": 6}


def test_a_value_too_long_to_edit_is_never_submitted_cut_short() -> None:
    body = "b" * 5_000
    schema = {
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
        "required": ["title", "body"],
    }
    modal = cards.edit_modal(card({"title": "Water", "body": body}), schema)
    valid_view(modal)
    field = inputs(modal)["body"]
    assert "initial_value" not in field["element"]  # never a cut copy that looks whole
    assert field["optional"] is True  # so an empty field reaches our error, not Slack's
    assert "5,000 characters" in field["hint"]["text"]

    _, arguments, errors = cards.parse_edit_submission(
        submitted(modal, {"title": "Water", "body": None})
    )
    assert errors == {"arg:body": cards.TOO_LONG_ERROR}
    assert "body" not in arguments
    _, arguments, errors = cards.parse_edit_submission(
        submitted(modal, {"title": "Water", "body": "Shorter."})
    )
    assert (arguments, errors) == ({"title": "Water", "body": "Shorter."}, {})


def test_a_huge_question_is_shortened_to_fit_its_message() -> None:
    for question in ("x" * 50_000, "&<>" * 20_000):
        blocks = cards.question_blocks("UALICE", question, anyone=False)
        shown = valid_message(blocks)
        assert "…" in shown
        assert len(cards.question_text("UALICE", question)) <= cards.QUESTION_LIMIT + 20
