"""Approval policies in Slack: allow and deny without a card, two-person approval, approvers
outside the channel deciding by DM, reminders and escalation. Through the real bot, the
emulator and the demo model; the demo model saves notes, so the rules here name `save_note`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from bot.reminders import Reminders
from playground.slack import Message
from tests.bot_harness import SlackBot, slack_bot
from tests.bot_process import clean_environment
from tests.test_bot_approvals import CHANNEL, ask_to_save, card_in, click, ephemeral_texts, notes

APPROVE = "countersign_approve"


def policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


TWO_PEOPLE = """
rules:
  - tool: save_note
    decision: approve
    approvals: 2
    reason: Notes are shared with the whole company.
"""


async def audit_actions(bot: SlackBot) -> list[tuple[str, str]]:
    rows = await bot.runtime.store.audit_rows()
    return [(row["action"], row["actor"]) for row in rows if row["action"] != "refused"]


async def test_an_allow_rule_runs_without_a_card(tmp_path: Path, database_url: str) -> None:
    rules = policy(
        tmp_path,
        "rules:\n  - tool: save_note\n    when: \"args.title == 'Water'\"\n    decision: allow\n",
    )
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot, what="water")
        texts = bot.texts(CHANNEL, asked.ts)
        assert not any("Approval needed" in text for text in texts)
        assert await notes(bot) == [
            ("Water", "A note about water, saved from the chat so the team can find it.")
        ]
        other = await ask_to_save(bot, what="coffee")  # the condition does not hold: a card
        assert card_in(bot, other.ts).buttons()


async def test_a_deny_rule_refuses_and_says_why_in_the_thread(
    tmp_path: Path, database_url: str
) -> None:
    rules = policy(
        tmp_path,
        "rules:\n  - tool: save_*\n    decision: deny\n"
        "    reason: Notes are read-only this week.\n",
    )
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot)
        shown = "\n".join(bot.texts(CHANNEL, asked.ts))
        assert "Not run: Save note. Notes are read-only this week." in shown
        assert "Approval needed" not in shown
        assert await notes(bot) == []
        again = await bot.say("UALICE", CHANNEL, "hello again", thread_ts=asked.ts)
        assert again is not None and len(bot.replies(CHANNEL, asked.ts)) >= 2  # still usable


async def test_two_people_must_approve_and_each_counts_once(
    tmp_path: Path, database_url: str
) -> None:
    rules = policy(tmp_path, TWO_PEOPLE)
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        assert "Needs 2 approvals" in card.visible_text()
        assert "Notes are shared with the whole company." in card.visible_text()

        await click(bot, "UBOB", card, APPROVE)
        counted = bot.slack.message(CHANNEL, card.ts)
        assert "1 of 2 approvals: <@UBOB>" in counted.visible_text()
        assert counted.buttons(), "the card keeps its buttons until the quorum"
        assert await notes(bot) == []
        assert "counted (1 of 2)" in ephemeral_texts(bot, "UBOB")[-1]

        await click(bot, "UBOB", card, APPROVE)  # a double click counts once
        assert "already counted" in ephemeral_texts(bot, "UBOB")[-1]
        await click(bot, "UALICE", card, APPROVE)  # the requester never counts
        assert "needs 2 approvals from other people" in ephemeral_texts(bot, "UALICE")[-1]
        assert await notes(bot) == []

        await click(bot, "UCAROL", card, APPROVE)
        decided = bot.slack.message(CHANNEL, card.ts)
        assert decided.buttons() == []
        assert "<@UBOB>" in decided.visible_text() and "<@UCAROL>" in decided.visible_text()
        assert len(await notes(bot)) == 1
        assert await audit_actions(bot) == [
            ("approval counted", "UBOB"),
            ("approved", "UCAROL"),
            ("ran", "UCAROL"),
        ]


async def test_two_approvers_at_once_run_it_once(tmp_path: Path, database_url: str) -> None:
    rules = policy(tmp_path, TWO_PEOPLE)
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await asyncio.gather(
            *(
                bot.slack.click(user, CHANNEL, card.ts, APPROVE)
                for user in ["UBOB", "UCAROL", "UBOB", "UCAROL"]
            )
        )
        await asyncio.sleep(0.05)
        await bot.idle()
        assert len(await notes(bot)) == 1
        actions = [action for action, _ in await audit_actions(bot)]
        assert actions == ["approval counted", "approved", "ran"]
        assert bot.slack.message(CHANNEL, card.ts).buttons() == []


async def test_a_deny_after_one_approval_ends_it(tmp_path: Path, database_url: str) -> None:
    rules = policy(tmp_path, TWO_PEOPLE)
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, APPROVE)
        await click(bot, "UCAROL", card, "countersign_deny")
        await bot.slack.submit_view("UCAROL", bot.slack.views[-1]["view_id"], {})
        await asyncio.sleep(0.05)
        await bot.idle()
        decided = bot.slack.message(CHANNEL, card.ts)
        assert "Denied by <@UCAROL>" in decided.visible_text()
        assert decided.buttons() == []
        assert await notes(bot) == []
        assert [action for action, _ in await audit_actions(bot)] == ["approval counted", "denied"]


async def test_an_edit_restarts_the_count_with_the_new_arguments(
    tmp_path: Path, database_url: str
) -> None:
    rules = policy(tmp_path, TWO_PEOPLE)
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, APPROVE)
        await click(bot, "UCAROL", card, "countersign_edit")
        await bot.slack.submit_view(
            "UCAROL",
            bot.slack.views[-1]["view_id"],
            {
                "arg:title": {"value": {"type": "plain_text_input", "value": "Sparkling"}},
                "arg:body": {"value": {"type": "plain_text_input", "value": "Two crates."}},
            },
        )
        await asyncio.sleep(0.05)
        await bot.idle()
        edited = bot.slack.message(CHANNEL, card.ts)
        assert "1 of 2 approvals: <@UCAROL>" in edited.visible_text()  # Bob's was for the old
        assert "Sparkling" in edited.visible_text() and edited.buttons()
        assert await notes(bot) == []
        await click(bot, "UBOB", card, APPROVE)
        assert await notes(bot) == [("Sparkling", "Two crates.")]
        assert "Sparkling" in bot.slack.message(CHANNEL, card.ts).visible_text()


async def test_an_approver_outside_the_channel_decides_by_dm(
    tmp_path: Path, database_url: str
) -> None:
    rules = policy(
        tmp_path, "rules:\n  - tool: save_note\n    decision: approve\n    approvers: [UDAVE]\n"
    )
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        bot.slack.add_user("UDAVE", "dave")  # after #general was made: not a member
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        copy = await dm_copy(bot, "UDAVE")
        assert copy.buttons() and "Save note" in copy.visible_text()
        assert f"<#{CHANNEL}>" in copy.visible_text()  # says where the conversation is

        await click(bot, "UBOB", card, APPROVE)  # not an approver for this rule
        assert "Only <@UDAVE> can approve" in ephemeral_texts(bot, "UBOB")[-1]

        delivery = await bot.slack.click("UDAVE", copy.channel, copy.ts, APPROVE)
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        assert len(await notes(bot)) == 1
        for message in (bot.slack.message(CHANNEL, card.ts), await dm_copy(bot, "UDAVE")):
            assert message.buttons() == []
            assert "Approved by <@UDAVE>" in message.visible_text()


async def dm_copy(bot: SlackBot, user: str) -> Message:
    opened = await bot.slack.bot_client().conversations_open(users=user)
    channel = opened["channel"]["id"]
    copies = bot.slack.bot_messages(channel)
    assert len(copies) == 1, [m.visible_text() for m in copies]
    return copies[0]


async def test_reminders_mention_who_has_not_decided_and_escalate(
    tmp_path: Path, database_url: str
) -> None:
    rules = policy(
        tmp_path,
        """
rules:
  - tool: save_note
    decision: approve
    approvers: [UBOB, UCAROL]
    approvals: 2
    remind_after: 15m
    expires_after: 2h
    escalate_to: [UERIN]
""",
    )
    async with slack_bot(tmp_path, database_url=database_url, policy_file=rules) as bot:
        bot.slack.add_user("UERIN", "erin")
        bot.slack.join(CHANNEL, "UERIN")  # a member: the escalation tells her by DM all the same
        asked = await ask_to_save(bot)
        card = card_in(bot, asked.ts)
        await click(bot, "UBOB", card, APPROVE)
        shift = [0.0]
        reminders = Reminders(
            bot.runtime, bot.running.bot.conversations.pauses, clock=lambda: time.time() + shift[0]
        )
        assert await reminders.sweep() == 0  # not due yet
        await click(bot, "UERIN", card, APPROVE)  # not a decider before the escalation
        assert "can approve" in ephemeral_texts(bot, "UERIN")[-1]

        shift[0] = 16 * 60
        assert await reminders.sweep() == 1
        assert await reminders.sweep() == 0  # once
        await bot.idle()
        reminder = bot.replies(CHANNEL, asked.ts)[-1].visible_text()
        assert "⏰ <@UCAROL>:" in reminder and "<@UBOB>" not in reminder  # Bob approved already
        assert "1 of 2 approvals" in reminder and "Escalated to <@UERIN>" in reminder
        copy = await dm_copy(bot, "UERIN")
        assert copy.buttons()

        delivery = await bot.slack.click("UERIN", copy.channel, copy.ts, APPROVE)
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle(timeout=40)  # card edits share a lane of 8 a minute: five so far
        assert len(await notes(bot)) == 1
        assert bot.slack.message(CHANNEL, card.ts).buttons() == []
        actions = [action for action, _ in await audit_actions(bot)]
        assert actions == ["approval counted", "reminded", "escalated", "approved", "ran"]


async def test_a_policy_with_errors_stops_start_up_naming_the_rule(tmp_path: Path) -> None:
    """The real `python -m bot` (the playground, no Slack settings): nothing starts, and the
    one line says which rule is wrong and why."""
    rules = policy(
        tmp_path,
        "rules:\n  - tool: save_note\n    decision: allow\n"
        "  - tool: payments__refund\n    when: 'args.amount >'\n    decision: approve\n",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=clean_environment(POLICY_FILE=str(rules), PYTHONPATH=str(Path.cwd())),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert "rule 2" in lines[-1] and "payments__refund" in lines[-1] and "when" in lines[-1]
    assert not (tmp_path / "countersign.db").exists()  # refused before anything was written
