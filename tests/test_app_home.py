"""The App Home tab, "Waiting for you": what each person may decide, with the card's buttons and
the card's exactly-once path. Through the real bot, the emulator and the demo model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playground.slack import Message
from playground.slack.records import blocks_text, iter_elements
from tests.bot_harness import SlackBot, slack_bot
from tests.test_bot_approvals import CHANNEL, ask_to_save, card_in, click, ephemeral_texts, notes
from tests.test_bot_policies import TWO_PEOPLE, audit_actions, policy

APPROVE, DENY = "countersign_approve", "countersign_deny"
EMPTY = "Nothing is waiting for you"


def home(bot: SlackBot, user: str) -> dict[str, Any]:
    view = bot.slack.home_view(user)
    assert view is not None, f"no Home tab published for {user}"
    return view


def home_text(bot: SlackBot, user: str) -> str:
    return blocks_text(home(bot, user)["blocks"])


def home_buttons(bot: SlackBot, user: str, action_id: str) -> list[dict[str, Any]]:
    return [b for b in iter_elements(home(bot, user)["blocks"]) if b.get("action_id") == action_id]


def card_value(card: Message) -> str:
    return str(card.button(APPROVE)["value"])


async def open_home(bot: SlackBot, user: str) -> None:
    before = bot.slack.home_publishes(user)
    delivery = await bot.slack.open_home(user)
    assert delivery.status == 200
    await bot.wait_for(lambda: bot.slack.home_publishes(user) > before)
    await bot.idle()


async def click_home(bot: SlackBot, user: str, action_id: str, value: str) -> None:
    delivery = await bot.slack.click_home(user, action_id, value=value)
    assert delivery.status == 200
    await asyncio.sleep(0.05)
    await bot.idle()


async def test_home_lists_what_the_viewer_may_decide_newest_first(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, approvers=["S0APPROVERS"]) as bot:  # S0APPROVERS: UBOB
        await open_home(bot, "UBOB")
        await open_home(bot, "UCAROL")
        assert EMPTY in home_text(bot, "UBOB") and EMPTY in home_text(bot, "UCAROL")

        water = card_in(bot, (await ask_to_save(bot, what="water")).ts)
        coffee = card_in(bot, (await ask_to_save(bot, what="coffee")).ts)
        await bot.wait_for(lambda: "Coffee" in home_text(bot, "UBOB"))
        await bot.idle()

        shown = home_text(bot, "UBOB")
        assert "2 requests you can decide" in shown
        assert shown.index("Coffee") < shown.index("Water")  # newest first
        assert "Save note" in shown and "Requested by <@UALICE>" in shown
        assert f"<#{CHANNEL}>" in shown and "open the thread>" in shown  # where, with a link
        assert "waiting less than a minute" in shown
        # the card's own buttons, answering the same pauses
        values = [b["value"] for b in home_buttons(bot, "UBOB", APPROVE)]
        assert values == [card_value(coffee), card_value(water)]
        assert len(home_buttons(bot, "UBOB", DENY)) == 2
        assert len(home_buttons(bot, "UBOB", "countersign_edit")) == 2

        # not an approver: nothing for them, and their Home was not published again
        assert EMPTY in home_text(bot, "UCAROL")
        assert bot.slack.home_publishes("UCAROL") == 1

        published = bot.slack.home_publishes("UBOB")
        await bot.slack.open_home("UBOB", tab="messages")  # the Messages tab is not ours
        await asyncio.sleep(0.05)
        await bot.idle()
        assert bot.slack.home_publishes("UBOB") == published


async def test_approve_from_home_runs_once_in_the_thread(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        await open_home(bot, "UBOB")
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.wait_for(lambda: bool(home_buttons(bot, "UBOB", APPROVE)))
        await bot.idle()

        await click_home(bot, "UBOB", APPROVE, card_value(card))
        decided = bot.slack.message(CHANNEL, card.ts)
        assert "Approved by <@UBOB>" in decided.visible_text()
        assert decided.buttons() == []
        assert await notes(bot) == [
            ("Water", "A note about water, saved from the chat so the team can find it.")
        ]
        last = bot.replies(CHANNEL, asked.ts)[-1]
        assert last.ts > card.ts and "saved the note" in last.visible_text()  # in the thread
        shown = home_text(bot, "UBOB")
        assert EMPTY in shown and "Done" in shown
        assert [a for a, _ in await audit_actions(bot)] == ["approved", "ran"]


async def test_a_second_click_from_home_or_the_card_is_refused(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        await open_home(bot, "UBOB")
        await open_home(bot, "UCAROL")
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.wait_for(lambda: bool(home_buttons(bot, "UCAROL", APPROVE)))
        await bot.idle()
        value = card_value(card)

        # the Home click and a click on the thread's card at once: one decides
        await asyncio.gather(
            bot.slack.click_home("UBOB", APPROVE, value=value),
            bot.slack.click("UCAROL", CHANNEL, card.ts, APPROVE),
        )
        # and a click on a Home that still shows the request (not refreshed yet)
        await bot.slack.click_home("UCAROL", APPROVE, value=value)
        await asyncio.sleep(0.05)
        await bot.idle()

        assert len(await notes(bot)) == 1
        assert [a for a, _ in await audit_actions(bot)] == ["approved", "ran"]
        [winner] = [actor for action, actor in await audit_actions(bot) if action == "approved"]
        loser = "UCAROL" if winner == "UBOB" else "UBOB"
        told = "\n".join(ephemeral_texts(bot, loser)) + home_text(bot, loser)
        assert f"already approved by <@{winner}>" in told
        assert f"already approved by <@{winner}>" in home_text(bot, "UCAROL")
        assert bot.slack.message(CHANNEL, card.ts).visible_text().count("Approved by") == 1


async def test_a_decision_in_the_thread_refreshes_home(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        await open_home(bot, "UBOB")
        asked = await ask_to_save(bot)
        await bot.wait_for(lambda: "Save note" in home_text(bot, "UBOB"))
        await bot.idle()
        published = bot.slack.home_publishes("UBOB")

        await click(bot, "UCAROL", card_in(bot, asked.ts), APPROVE)
        await bot.wait_for(lambda: EMPTY in home_text(bot, "UBOB"))
        await bot.idle()
        assert bot.slack.home_publishes("UBOB") == published + 1  # once, not per change
        assert len(await notes(bot)) == 1


async def test_deny_from_home_asks_for_a_reason(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        await open_home(bot, "UBOB")
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.wait_for(lambda: bool(home_buttons(bot, "UBOB", DENY)))
        await bot.idle()

        await click_home(bot, "UBOB", DENY, card_value(card))
        modal = bot.slack.views[-1]
        assert modal["view"]["callback_id"] == "countersign_deny_reason"
        assert card_in(bot, asked.ts).buttons()  # nothing decided until it is submitted
        delivery = await bot.slack.submit_view(
            "UBOB",
            modal["view_id"],
            {"reason": {"reason": {"type": "plain_text_input", "value": "we use the wiki"}}},
        )
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        decided = bot.slack.message(CHANNEL, card.ts).visible_text()
        assert "Denied by <@UBOB>" in decided and "we use the wiki" in decided
        assert await notes(bot) == []
        await bot.wait_for(lambda: EMPTY in home_text(bot, "UBOB"))


async def test_two_person_approval_counts_from_home(tmp_path: Path) -> None:
    rules = policy(tmp_path, TWO_PEOPLE)
    async with slack_bot(tmp_path, policy_file=rules) as bot:
        await open_home(bot, "UBOB")
        await open_home(bot, "UCAROL")
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await bot.wait_for(lambda: bool(home_buttons(bot, "UCAROL", APPROVE)))
        await bot.idle()

        await click_home(bot, "UBOB", APPROVE, card_value(card))
        await bot.wait_for(lambda: "1 of 2 approvals" in home_text(bot, "UCAROL"))
        bob = home_text(bot, "UBOB")
        assert "counted (1 of 2)" in bob and EMPTY in bob  # it waits for someone else now
        assert "1 of 2 approvals: <@UBOB>" in bot.slack.message(CHANNEL, card.ts).visible_text()
        assert await notes(bot) == []

        await click_home(bot, "UCAROL", APPROVE, card_value(card))
        assert len(await notes(bot)) == 1
        assert bot.slack.message(CHANNEL, card.ts).buttons() == []
        await bot.wait_for(lambda: EMPTY in home_text(bot, "UCAROL"))


async def test_a_question_waits_on_the_requesters_home_only(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        await open_home(bot, "UALICE")
        await open_home(bot, "UBOB")
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> remind me about the meeting")
        await bot.wait_for(lambda: "Question" in home_text(bot, "UALICE"))
        await bot.idle()
        [answer] = [
            b
            for b in iter_elements(home(bot, "UALICE")["blocks"])
            if b.get("text", {}).get("text") == "Answer in the thread"
        ]
        assert CHANNEL in answer["url"] and "meeting" in home_text(bot, "UALICE").lower()
        assert EMPTY in home_text(bot, "UBOB")

        await bot.say("UALICE", CHANNEL, "Tuesday at 10", thread_ts=asked.ts)
        await bot.wait_for(lambda: "Question" not in home_text(bot, "UALICE"))
