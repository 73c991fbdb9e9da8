"""Approval cards in Slack: clicks resume the run exactly once, and every end state shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent import tool_results
from bot.audit import print_audit
from bot.store import arguments_hash
from playground.slack import Message
from playground.slack.records import iter_elements
from tests.bot_harness import SlackBot, mock_model, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply
from tests.tools_for_tests import CALLS

CHANNEL = "C0GENERAL"


async def notes(bot: SlackBot) -> list[tuple[str, str]]:
    rows = await bot.runtime.agent.database.fetch_all("SELECT title, body FROM notes ORDER BY id")
    return [(row["title"], row["body"]) for row in rows]


def card_in(bot: SlackBot, thread_ts: str) -> Message:
    cards = [m for m in bot.replies(CHANNEL, thread_ts) if "Approval needed" in m.visible_text()]
    assert cards, f"no approval card in the thread: {bot.texts(CHANNEL, thread_ts)}"
    return cards[-1]


async def ask_to_save(bot: SlackBot, user: str = "UALICE", what: str = "water") -> Message:
    return await bot.say(user, CHANNEL, f"<@UBOT> save a note about {what}")


async def click(bot: SlackBot, user: str, card: Message, action: str) -> None:
    delivery = await bot.slack.click(user, CHANNEL, card.ts, action)
    assert delivery.status == 200
    await asyncio.sleep(0.05)
    await bot.idle()


def ephemeral_texts(bot: SlackBot, user: str) -> list[str]:
    return [e.get("text", "") for e in bot.slack.ephemerals(CHANNEL, user)]


async def test_card_shows_what_why_who_and_when(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        text = card.visible_text()
        assert "Save note" in text
        assert "Water" in text and "A note about water" in text  # the exact arguments
        assert "so the team can find it later" in text  # the model's reason
        assert "<@UALICE>" in text and "<!date^" in text  # who asked, when it expires
        styles = {b["action_id"]: b.get("style") for b in card.buttons()}
        assert styles["countersign_approve"] == "primary"
        assert styles["countersign_deny"] == "danger"
        assert await notes(bot) == []


async def test_approve_stores_once_and_the_card_says_who(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, "countersign_approve")
        decided = bot.slack.message(CHANNEL, card.ts)
        assert decided.buttons() == []
        assert "Approved by <@UBOB>" in decided.visible_text()
        assert await notes(bot) == [
            ("Water", "A note about water, saved from the chat so the team can find it.")
        ]
        last = bot.replies(CHANNEL, asked.ts)[-1]
        assert last.ts > card.ts and "saved the note" in last.visible_text()


async def test_double_and_concurrent_clicks_write_once(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await asyncio.gather(
            bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve"),
            bot.slack.click("UCAROL", CHANNEL, card.ts, "countersign_approve"),
            bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve"),
        )
        await asyncio.sleep(0.05)
        await bot.idle()
        assert len(await notes(bot)) == 1
        told = ephemeral_texts(bot, "UBOB") + ephemeral_texts(bot, "UCAROL")
        assert len(told) == 2 and all("already" in text for text in told)
        decided = [
            row for row in await bot.runtime.store.audit_rows() if row["action"] != "refused"
        ]
        assert [row["action"] for row in decided] == ["approved", "ran"]  # once each
        approved, ran = decided
        assert approved["arguments_sha256"] == ran["arguments_sha256"]  # what ran was approved


async def test_deny_with_a_reason_reaches_the_model(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, "countersign_deny")
        view = bot.slack.views[-1]
        assert card_in(bot, asked.ts).buttons()  # nothing decided until the modal is submitted
        delivery = await bot.slack.submit_view(
            "UBOB",
            view["view_id"],
            {"reason": {"reason": {"type": "plain_text_input", "value": "we use the wiki"}}},
        )
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        decided = bot.slack.message(CHANNEL, card.ts)
        assert (
            "Denied by <@UBOB>" in decided.visible_text()
            and "we use the wiki" in decided.visible_text()
        )
        assert decided.buttons() == []
        assert await notes(bot) == []
        assert "we use the wiki" in bot.replies(CHANNEL, asked.ts)[-1].visible_text()


async def test_deny_without_a_reason(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        await click(bot, "UBOB", card_in(bot, asked.ts), "countersign_deny")
        await bot.slack.submit_view("UBOB", bot.slack.views[-1]["view_id"], {})
        await asyncio.sleep(0.05)
        await bot.idle()
        assert await notes(bot) == []
        assert "did not save" in bot.replies(CHANNEL, asked.ts)[-1].visible_text()


async def test_edit_and_approve_runs_the_edited_arguments(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, "countersign_edit")
        view = bot.slack.views[-1]
        prefilled = {
            b["block_id"]: b["element"].get("initial_value")
            for b in view["view"]["blocks"]
            if b["type"] == "input"
        }
        assert prefilled["arg:title"] == "Water"
        empty = await bot.slack.submit_view(
            "UBOB",
            view["view_id"],
            {"arg:title": {"value": {"type": "plain_text_input", "value": "Sparkling"}}},
        )
        assert "errors" in empty.body and "arg:body" in empty.body  # body is required
        assert await notes(bot) == []
        await bot.slack.submit_view(
            "UBOB",
            view["view_id"],
            {
                "arg:title": {"value": {"type": "plain_text_input", "value": "Sparkling"}},
                "arg:body": {"value": {"type": "plain_text_input", "value": "Two crates."}},
            },
        )
        await asyncio.sleep(0.05)
        await bot.idle()
        assert await notes(bot) == [("Sparkling", "Two crates.")]
        decided = bot.slack.message(CHANNEL, card.ts).visible_text()
        assert "Edited and approved by <@UBOB>" in decided
        assert "*Title:* ~Water~ → Sparkling\n" in decided  # what the approver changed


async def test_approvers_setting_refuses_others_and_keeps_the_buttons(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, approvers=["S0APPROVERS"]) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UCAROL", card, "countersign_approve")
        assert await notes(bot) == []
        assert bot.slack.message(CHANNEL, card.ts).buttons()  # unchanged
        [refusal] = ephemeral_texts(bot, "UCAROL")
        assert "S0APPROVERS" in refusal
        await click(bot, "UBOB", card, "countersign_approve")  # a member of the group
        assert len(await notes(bot)) == 1
        actions = [row["action"] for row in await bot.runtime.store.audit_rows()]
        assert actions == ["refused", "approved", "ran"]


async def test_self_approval_off_refuses_the_requester(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, allow_self_approval=False) as bot:
        asked = await ask_to_save(bot, user="UALICE")
        card = card_in(bot, asked.ts)
        await click(bot, "UALICE", card, "countersign_approve")
        assert await notes(bot) == []
        assert any("someone else" in text for text in ephemeral_texts(bot, "UALICE"))
        await click(bot, "UBOB", card, "countersign_approve")
        assert len(await notes(bot)) == 1


async def test_expiry_edits_the_card_and_tells_the_model(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, approval_ttl_seconds=0.5) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.wait_for(lambda: "Expired" in bot.slack.message(CHANNEL, card.ts).visible_text())
        await bot.idle()
        assert bot.slack.message(CHANNEL, card.ts).buttons() == []
        assert await notes(bot) == []
        assert "in time" in bot.replies(CHANNEL, asked.ts)[-1].visible_text()
        assert [row["action"] for row in await bot.runtime.store.audit_rows()] == ["expired"]


async def test_a_stale_button_after_the_run_moved_on_runs_nothing(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save notes about tea and coffee")
        first = card_in(bot, asked.ts)
        old_blocks = first.blocks
        await click(bot, "UBOB", first, "countersign_approve")
        second = card_in(bot, asked.ts)
        assert second.ts != first.ts and "Coffee" in second.visible_text()
        # A click from the first card as it looked before (a slow client, a retried payload).
        old_value = next(
            b for b in iter_elements(old_blocks) if b.get("action_id") == "countersign_approve"
        )["value"]
        delivery = await bot.slack.deliver_interactive(
            {
                "type": "block_actions",
                "user": {"id": "UCAROL", "username": "carol", "team_id": "T0001"},
                "team": {"id": "T0001"},
                "channel": {"id": CHANNEL},
                "container": {"type": "message", "message_ts": first.ts, "channel_id": CHANNEL},
                "message": {"ts": first.ts, "text": first.text, "blocks": old_blocks},
                "trigger_id": "1.2.3",
                "actions": [
                    {"action_id": "countersign_approve", "value": old_value, "type": "button"}
                ],
            }
        )
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        assert [title for title, _ in await notes(bot)] == []  # coffee was not approved by it
        assert card_in(bot, asked.ts).buttons()  # the pending card still works
        assert any(
            "no longer pending" in t or "already" in t for t in ephemeral_texts(bot, "UCAROL")
        )


async def test_two_writes_in_one_step_are_two_cards_in_order(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save notes about tea and coffee")
        first = card_in(bot, asked.ts)
        assert "Tea" in first.visible_text()
        await click(bot, "UBOB", first, "countersign_approve")
        second = card_in(bot, asked.ts)
        assert float(second.ts) > float(first.ts)
        await click(bot, "UBOB", second, "countersign_approve")
        assert [title for title, _ in await notes(bot)] == ["Tea", "Coffee"]


async def test_a_new_message_while_paused_points_at_the_card(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.say("UBOB", CHANNEL, "is this done yet?", thread_ts=asked.ts)
        pointer = bot.replies(CHANNEL, asked.ts)[-1].visible_text()
        assert "waiting for a decision" in pointer and "Save note" in pointer
        shown = json.dumps(bot.replies(CHANNEL, asked.ts)[-1].blocks)
        assert "|above>" in shown and "&lt;" not in shown  # a working link, not escaped text
        assert bot.slack.message(CHANNEL, card.ts).buttons()  # the pause was not dropped
        await click(bot, "UBOB", card, "countersign_approve")
        assert len(await notes(bot)) == 1


async def test_question_is_answered_by_the_requester_only(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> remind me about the meeting")
        question = bot.replies(CHANNEL, asked.ts)[-1]
        assert question.text.startswith("<@UALICE>") and "meeting" in question.text.lower()
        await bot.say("UBOB", CHANNEL, "it's at 3", thread_ts=asked.ts)
        assert "waiting for <@UALICE>" in bot.replies(CHANNEL, asked.ts)[-1].visible_text()
        await bot.say("UALICE", CHANNEL, "Tuesday at 10", thread_ts=asked.ts)
        assert "Answered by <@UALICE>" in bot.slack.message(CHANNEL, question.ts).visible_text()
        card = card_in(bot, asked.ts)  # the demo proposes a reminder built from the answer
        assert "Tuesday at 10" in card.visible_text()


async def test_anyone_may_answer_when_configured(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, ask_human_responders="anyone") as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> remind me about the standup")
        await bot.say("UBOB", CHANNEL, "Friday 9am", thread_ts=asked.ts)
        assert "Friday 9am" in card_in(bot, asked.ts).visible_text()


async def test_stop_mid_stream_keeps_the_partial_answer(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, demo_tokens_per_second=15) as bot:
        bot.runtime.streamer_settings = type(bot.runtime.streamer_settings)(min_interval=0.05)
        said, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await bot.wait_for(
            lambda: (
                any(
                    b["action_id"] == "countersign_stop"
                    for m in bot.replies(CHANNEL, said.ts)
                    for b in m.buttons()
                )
                and len(bot.replies(CHANNEL, said.ts)[0].visible_text()) > 10
            )
        )
        answer = bot.replies(CHANNEL, said.ts)[0]
        await click(bot, "UALICE", answer, "countersign_stop")
        stopped = bot.slack.message(CHANNEL, answer.ts)
        assert "Stopped" in stopped.visible_text()
        assert stopped.buttons() == []
        history = await bot.runtime.agent.history(f"T0001:{CHANNEL}:{said.ts}")
        partial = history[-1]["content"]
        assert partial and partial.split()[0] in stopped.visible_text()
        assert len(partial) < 200  # the demo's full answer is longer: it really stopped
        await bot.say("UALICE", CHANNEL, "hello again", thread_ts=said.ts)
        assert "Stopped" not in bot.replies(CHANNEL, said.ts)[-1].visible_text()


async def test_an_unanswered_question_expires_too(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, approval_ttl_seconds=0.5) as bot:
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> remind me about the meeting")
        question = bot.replies(CHANNEL, asked.ts)[-1]
        await bot.wait_for(
            lambda: "Expired" in bot.slack.message(CHANNEL, question.ts).visible_text()
        )
        await bot.idle()
        assert await bot.runtime.agent.pending(f"T0001:{CHANNEL}:{asked.ts}") is None
        assert [row["action"] for row in await bot.runtime.store.audit_rows()] == ["expired"]


async def test_audit_command_prints_every_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, approvers=["UBOB"]) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UCAROL", card, "countersign_approve")
        await click(bot, "UBOB", card, "countersign_approve")
        settings = bot.running.bot.runtime.settings
    await print_audit(settings, limit=10)
    lines = capsys.readouterr().out.splitlines()
    assert "action" in lines[0] and "args sha256" in lines[0]
    refused, approved, ran = lines[1:]
    assert "refused" in refused and "UCAROL" in refused
    assert "approved" in approved and "UBOB" in approved and "save_note" in approved
    assert "ran" in ran and "save_note" in ran
    digest = arguments_hash(
        {
            "title": "Water",
            "body": "A note about water, saved from the chat so the team can find it.",
        }
    )
    assert digest[:12] in approved


async def test_a_pause_outside_slack_expires_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    """The terminal chat on the same database: its pauses expire too, with no Slack to edit."""
    async with slack_bot(tmp_path, database_url=database_url, approval_ttl_seconds=0.3) as bot:
        agent = bot.runtime.agent
        events = [e async for e in agent.start("terminal:1", "save a note about water", "ULOCAL")]
        assert type(events[-1]).__name__ == "ApprovalRequested"
        for _ in range(100):
            if await agent.pending("terminal:1") is None:
                break
            await asyncio.sleep(0.05)
        assert await agent.pending("terminal:1") is None
        await asyncio.sleep(1)  # several more sweeps
        assert await notes(bot) == []
        results = [m for m in await agent.history("terminal:1") if m["role"] == "tool"]
        assert [m["content"] for m in results] == [tool_results.EXPIRED]  # the model was told
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


async def test_a_deny_submitted_after_an_approval_tells_the_person_in_the_thread(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, "countersign_deny")
        view = bot.slack.views[-1]
        await click(bot, "UCAROL", card, "countersign_approve")  # meanwhile, someone approves
        delivery = await bot.slack.submit_view(
            "UBOB",
            view["view_id"],
            {"reason": {"reason": {"type": "plain_text_input", "value": "too late"}}},
        )
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        [told] = ephemeral_texts(bot, "UBOB")  # in the conversation, not sent to the modal's id
        assert "already approved by <@UCAROL>" in told
        assert "Approved by <@UCAROL>" in bot.slack.message(CHANNEL, card.ts).visible_text()
        assert len(await notes(bot)) == 1


async def test_a_card_slack_refuses_is_posted_plain_and_still_decides(
    tmp_path: Path, llm: MockLLMServer
) -> None:
    """Slack answers `invalid_blocks` for the card (pitfall 40): a plain card with the buttons
    goes instead, so the run does not wait for a card nobody can see; Approve still runs it."""
    CALLS.clear()
    llm.enqueue(
        Reply(
            text="Opening a ticket.",
            tool_calls=[("open_ticket", {"title": "Disk full", "priority": "high"})],
            delay_per_chunk=0.2,
        )
    )
    llm.enqueue(Reply(text="Opened."))
    async with slack_bot(tmp_path, **mock_model(llm)) as bot:
        asked, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> open a ticket")
        await bot.slack.wait_until(lambda: bool(bot.replies(CHANNEL, asked.ts)))
        bot.slack.fail_next("chat.postMessage", error="invalid_blocks", status=200)
        await bot.slack.wait_until(lambda: len(bot.replies(CHANNEL, asked.ts)) == 2, timeout=10)
        card = bot.replies(CHANNEL, asked.ts)[1]
        assert "Slack refused the full card (invalid_blocks)" in card.visible_text()
        assert "countersign_approve" in [b["action_id"] for b in card.buttons()]
        await click(bot, "UBOB", card, "countersign_approve")
        assert CALLS == [("Disk full", "high", "UALICE")]
        assert bot.replies(CHANNEL, asked.ts)[-1].text.startswith("Opened.")
