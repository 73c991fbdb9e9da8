"""Conversations in Slack: mentions, DMs, thread replies, ordering, dedupe and signatures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from bot.rate_limits import Budget, SlackRateLimiter
from bot.slack_calls import SlackCalls
from playground.slack import SlackEmulator
from playground.slack.payloads import app_mention_event
from tests.bot_harness import SIGNING_SECRET, slack_bot


async def test_mention_is_answered_in_its_thread(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", "C0GENERAL", "<@UBOT> hello there")
        [answer] = bot.replies("C0GENERAL", asked.ts)
        assert answer.thread_ts == asked.ts
        assert "save" in answer.visible_text().lower() and "note" in answer.visible_text().lower()
        assert "Thinking" not in answer.visible_text()
        assert not answer.buttons()  # the Stop button is gone once the answer is complete
        first_version = answer.versions[0]
        assert first_version["text"].startswith("Hi!")  # the first message carries the words
        assert "Thinking" not in json.dumps(first_version)  # no empty status line first
        # A native stream shows live text to one person only: channels get edits (pitfall 37).
        assert bot.slack.calls_to("chat.startStream") == []
        edits = {c.method for c in bot.slack.calls if c.params.get("ts") == answer.ts}
        assert edits == {"chat.update"}  # the rest of the words, then the Stop button gone
        history = await bot.runtime.agent.history(f"T0001:C0GENERAL:{asked.ts}")
        assert history[0] == {"role": "user", "content": "hello there"}  # own mention stripped


async def test_dm_is_answered_in_a_thread_under_it(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", "D0ALICE", "hi")
        [answer] = bot.replies("D0ALICE", asked.ts)
        assert answer.thread_ts == asked.ts
        assert answer.visible_text()


async def test_thread_reply_continues_without_a_mention(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", "C0GENERAL", "<@UBOT> save a note about water")
        bot_messages = bot.replies("C0GENERAL", asked.ts)
        card = bot_messages[-1]
        await bot.slack.click("UALICE", "C0GENERAL", card.ts, "countersign_approve")
        await bot.idle()
        await bot.say("UALICE", "C0GENERAL", "what did I save about water?", thread_ts=asked.ts)
        last = bot.replies("C0GENERAL", asked.ts)[-1]
        assert "water" in last.visible_text().lower()
        assert "found" in last.visible_text().lower()


async def test_channel_chatter_without_a_mention_is_ignored(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        said, _ = await bot.slack.user_says("UALICE", "C0GENERAL", "lunch anyone?")
        await asyncio.sleep(0.3)
        await bot.idle()
        assert bot.replies("C0GENERAL", said.ts) == []


async def test_mention_twin_and_retried_event_are_answered_once(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        asked = await bot.say("UALICE", "C0GENERAL", "<@UBOT> hello")  # app_mention + message
        event = {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> hello",
            "channel": "C0GENERAL",
            "ts": asked.ts,
            "event_ts": asked.ts,
        }
        retry = await bot.slack.deliver_event(event, event_id="EvRETRY1")
        again = await bot.slack.deliver_event(event, event_id="EvRETRY1", retry_num=1)
        assert retry.status == again.status == 200
        await asyncio.sleep(0.3)
        await bot.idle()
        assert len(bot.replies("C0GENERAL", asked.ts)) == 1


async def test_a_retry_after_a_restart_is_still_recognised(
    tmp_path: Path, database_url: str
) -> None:
    async with SlackEmulator() as slack:
        async with slack_bot(tmp_path, database_url=database_url, slack=slack) as bot:
            asked = await bot.say("UALICE", "C0GENERAL", "<@UBOT> hello")
            delivered = list(slack.calls_to("chat.postMessage"))
        await _deliver_again_after_restart(tmp_path, database_url, slack, asked.ts, len(delivered))


async def _deliver_again_after_restart(
    tmp_path: Path, database_url: str, slack: SlackEmulator, ts: str, posts_before: int
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, slack=slack) as bot:
        event = {
            "type": "message",
            "channel_type": "channel",
            "user": "UALICE",
            "text": "<@UBOT> hello",
            "channel": "C0GENERAL",
            "ts": ts,
        }
        await bot.slack.deliver_event(event, retry_num=1, retry_reason="http_timeout")
        await asyncio.sleep(0.3)
        await bot.idle()
        assert len(slack.calls_to("chat.postMessage")) == posts_before


async def test_two_turns_in_one_thread_run_in_order(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url, demo_tokens_per_second=200) as bot:
        root = await bot.say("UALICE", "D0ALICE", "hello")
        await bot.slack.user_says("UALICE", "D0ALICE", "hi again", thread_ts=root.ts)
        await bot.slack.user_says(
            "UALICE", "D0ALICE", "what did I save about tea?", thread_ts=root.ts
        )
        await bot.wait_for(lambda: len(bot.replies("D0ALICE", root.ts)) == 3)
        await bot.idle()
        answers = bot.replies("D0ALICE", root.ts)
        assert "tea" not in answers[1].visible_text().lower()
        assert "tea" in answers[2].visible_text().lower()
        assert float(answers[1].ts) < float(answers[2].ts)
        history = await bot.runtime.agent.history(f"T0001:D0ALICE:{root.ts}")
        users = [m["content"] for m in history if m["role"] == "user"]
        assert users == ["hello", "hi again", "what did I save about tea?"]


async def test_bot_and_edit_events_are_acked_and_ignored(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        for event in (
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": "C0GENERAL",
                "message": {"text": "<@UBOT> edited", "ts": "1.1"},
                "ts": "1.2",
            },
            {"type": "message", "subtype": "message_deleted", "channel": "C0GENERAL", "ts": "1.3"},
            {
                "type": "message",
                "bot_id": "BOTHER",
                "user": "UOTHERBOT",
                "channel": "C0GENERAL",
                "text": "<@UBOT> hi from a bot",
                "ts": "1.4",
            },
        ):
            delivery = await bot.slack.deliver_event(event)
            assert delivery.status == 200
        await asyncio.sleep(0.3)
        await bot.idle()
        assert bot.slack.calls_to("chat.postMessage") == []


async def test_forged_and_stale_requests_are_rejected_without_effect(
    tmp_path: Path, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0001",
                "event_id": "EvFORGED",
                "event": {
                    "type": "app_mention",
                    "user": "UALICE",
                    "text": "<@UBOT> hi",
                    "channel": "C0GENERAL",
                    "ts": "1700000001.000100",
                },
            }
        ).encode()
        forged = await bot.slack.post_raw(body, content_type="application/json", secret="wrong")
        stale = await bot.slack.post_raw(
            body,
            content_type="application/json",
            secret=SIGNING_SECRET,
            timestamp=int(time.time()) - 600,
        )
        assert forged.status == 401
        assert stale.status == 401
        await asyncio.sleep(0.3)
        assert bot.slack.calls_to("chat.postMessage") == []


async def test_a_broken_payload_gets_a_4xx(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        broken = await bot.slack.post_raw(
            b"payload=%7Bnot-json",
            content_type="application/x-www-form-urlencoded",
            secret=SIGNING_SECRET,
        )
        assert 400 <= broken.status < 500


async def test_healthz_is_ok_once_ready(tmp_path: Path, database_url: str) -> None:
    import aiohttp

    async with (
        slack_bot(tmp_path, database_url=database_url) as bot,
        aiohttp.ClientSession() as session,
        session.get(bot.running.url + "/healthz") as response,
    ):
        assert response.status == 200
        assert (await response.json())["ok"] is True


async def test_a_burst_right_after_start_up_is_answered_in_full(
    tmp_path: Path, database_url: str
) -> None:
    async with SlackEmulator(enforce_rate_limits=True) as slack:
        channels = [f"C0BURST{i:02d}" for i in range(10)]
        for channel in channels:
            slack.add_channel(channel, channel.lower(), members=["UALICE", "UBOT"])
        # auth.test keeps Slack's real tier; answer edits are scaled so the test takes seconds.
        slack.limiter.set_limit("chat.update", per_minute=1200, burst=8)
        async with slack_bot(tmp_path, database_url=database_url, slack=slack) as bot:
            limiter = SlackRateLimiter({"chat.update": Budget(10.0, burst=4)})
            bot.runtime.limiter = limiter
            bot.runtime.slack = SlackCalls(bot.runtime.client, limiter)
            sent = await asyncio.gather(
                *(slack.user_says("UALICE", channel, "<@UBOT> hi") for channel in channels)
            )
            await bot.wait_for(
                lambda: all(bot.replies(m.channel, m.ts) for m, _ in sent), timeout=20
            )
            await bot.idle(timeout=30)
            assert all(d.status == 200 for _, deliveries in sent for d in deliveries)
            assert len(slack.calls_to("auth.test")) == 1  # start-up's, reused for every request
            assert [c for c in slack.calls if c.status == 429] == []


async def test_a_reply_that_arrives_before_its_thread_s_mention_is_answered_after_it(
    tmp_path: Path, database_url: str
) -> None:
    """The bot missed a mention (a restart) and Slack retries it a minute later; a reply in that
    thread came in between. Both are answered, in the order people wrote them."""
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        slack = bot.slack
        root, _ = await slack.user_says("UALICE", "C0GENERAL", "<@UBOT> hello", deliver=False)
        _, deliveries = await slack.user_says(
            "UBOB", "C0GENERAL", "what did I save about tea?", thread_ts=root.ts
        )
        assert [d.status for d in deliveries] == [200]
        await bot.idle()
        assert bot.replies("C0GENERAL", root.ts) == []  # not a conversation (yet)
        mention = app_mention_event(slack.workspace, root)
        retried = await slack.deliver_event(mention, retry_num=1, retry_reason="http_error")
        assert retried.status == 200
        await bot.wait_for(lambda: len(bot.replies("C0GENERAL", root.ts)) == 2, timeout=20)
        await bot.idle()
        first, second = bot.texts("C0GENERAL", root.ts)
        assert "demo model" in first
        assert "tea" in second.lower()
