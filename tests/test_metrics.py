"""GET /metrics on the running bot, read over HTTP as Prometheus would scrape it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.bot_harness import SlackBot, slack_bot

CHANNEL = "C0GENERAL"


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; a series that does not exist (yet) counts 0."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, series), value in self.samples.items()
            if sample == name and wanted <= series
        )


async def scrape(bot: SlackBot) -> Scrape:
    async with (
        aiohttp.ClientSession() as session,
        session.get(bot.running.url + "/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples)


async def test_metrics_follow_a_turn_and_an_approval(tmp_path: Path, database_url: str) -> None:
    async with slack_bot(tmp_path, database_url=database_url) as bot:
        before = await scrape(bot)
        assert before.value("countersign_turns_started_total") == 0
        assert before.has("countersign_pending_pauses", kind="approval")  # there from the start
        assert before.value("countersign_pending_pauses", kind="approval") == 0
        assert before.has("countersign_inbox_items", status="queued")

        bot.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)
        asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save a note about water")
        paused = await scrape(bot)
        assert paused.value("countersign_turns_started_total") == 1
        assert paused.value("countersign_turns_finished_total", outcome="paused") == 1
        assert paused.value("countersign_pending_pauses", kind="approval") == 1
        assert paused.value("countersign_model_first_token_seconds_count") >= 1
        assert paused.value("countersign_first_visible_text_seconds_count") == 1
        # Counted from the provider's usage when the stream carries it, else one per delta.
        assert paused.total("countersign_model_tokens_total", kind="completion") > 0
        # Every call Slack saw is counted, the 429 among them, under its method.
        assert (
            paused.value(
                "countersign_slack_calls_total", method="chat.postMessage", outcome="rate_limited"
            )
            == 1
        )
        assert paused.value("countersign_slack_429_total", method="chat.postMessage") == 1
        posts = len(bot.slack.calls_to("chat.postMessage"))
        assert paused.total("countersign_slack_calls_total", method="chat.postMessage") == posts
        assert paused.value("countersign_slack_call_seconds_count", method="auth.test") == 1

        card = next(
            m for m in bot.replies(CHANNEL, asked.ts) if "Approval needed" in m.visible_text()
        )
        delivery = await bot.slack.click("UBOB", CHANNEL, card.ts, "countersign_approve")
        assert delivery.status == 200
        await asyncio.sleep(0.05)
        await bot.idle()
        after = await scrape(bot)
        assert after.value("countersign_turns_started_total") == 2  # the continuation
        assert after.value("countersign_turns_finished_total", outcome="finished") == 1
        assert after.value("countersign_pending_pauses", kind="approval") == 0
        assert after.value("countersign_decision_latency_seconds_count", kind="approval") == 1
        waited = after.value("countersign_decision_latency_seconds_sum", kind="approval")
        assert 0 < waited < 60
        updates = len(bot.slack.calls_to("chat.update"))
        assert updates > 0  # the card's edit at least
        assert (
            after.value("countersign_slack_calls_total", method="chat.update", outcome="ok")
            == updates
        )


async def test_inbox_depth_shows_what_waits_behind_a_running_turn(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, demo_tokens_per_second=40) as bot:  # a turn takes seconds
        first, _ = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> hello there")
        await bot.wait_for(lambda: len(bot.replies(CHANNEL, first.ts)) == 1)  # it is running
        await bot.slack.user_says("UALICE", CHANNEL, "and another thing", thread_ts=first.ts)
        busy = await scrape(bot)
        assert busy.value("countersign_inbox_items", status="running") == 1
        assert busy.value("countersign_inbox_items", status="queued") == 1  # waits its turn
        await bot.idle(timeout=30)
        idle = await scrape(bot)
        assert idle.value("countersign_inbox_items", status="running") == 0
        assert idle.value("countersign_inbox_items", status="queued") == 0
        assert idle.value("countersign_turns_finished_total", outcome="finished") == 2
