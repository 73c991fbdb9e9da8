"""Two and three `python -m bot` processes on one PostgreSQL database, as people see them in
Slack: a click or a message may reach any replica, and still every answer comes once, in order,
one at a time per thread; a replica killed mid-answer is replaced by another in the same
message; Stop works wherever it is clicked; the replicas share Slack's rate limits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg

from agent.postgres_storage import SETUP_LOCK, PostgresStorage
from playground.slack import Message, SlackEmulator
from tests.bot_process import bot_process
from tests.postgres_server import PostgresServer
from tests.replicas import (
    APPROVE,
    HELLO,
    HELP_ENDING,
    STOP,
    STOPPED,
    Replicas,
    answers,
    bot_replies,
    finished,
    has_stop,
    replicas,
    texts,
    thread_id,
)

CHANNEL = "C0GENERAL"
WATER_NOTE = ("Water", "A note about water, saved from the chat so the team can find it.")


def hello_answered(message: Message) -> bool:
    """The demo model's whole answer to "hello", with nothing in progress."""
    text = message.visible_text()
    return HELLO in text and text.endswith(HELP_ENDING) and finished(message)


def whole_hello(parts: list[Message]) -> bool:
    """The same for an answer that may have gone on in several messages (under load)."""
    text = "".join(part.text for part in parts)
    return HELLO in text and text.endswith(HELP_ENDING) and all(finished(p) for p in parts)


def streaming(slack: SlackEmulator, thread_ts: str) -> bool:
    """The first reply shows some of the answer's text and still offers Stop."""
    replies = bot_replies(slack, CHANNEL, thread_ts)
    return bool(replies) and HELLO[:10] in replies[0].visible_text() and has_stop(replies[0])


def no_tracebacks(bots: Replicas) -> None:
    assert not any("Traceback" in line for p in bots.processes for line in p.log), bots.logs()


async def test_a_double_click_landing_on_two_replicas_writes_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with (
        SlackEmulator() as slack,
        replicas(slack, tmp_path, postgres_server.new_database()) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> save a note about water")
        await slack.wait_until(
            lambda: any(
                b["action_id"] == APPROVE
                for b in bot_replies(slack, CHANNEL, asked.ts)[-1].buttons()
            ),
            timeout=20,
        )
        card = bot_replies(slack, CHANNEL, asked.ts)[-1]
        # Both clicks of the double click leave at once; round-robin hands one to each replica.
        deliveries = await asyncio.gather(
            slack.click("UBOB", CHANNEL, card.ts, APPROVE),
            slack.click("UBOB", CHANNEL, card.ts, APPROVE),
        )
        assert [d.status for d in deliveries] == [200, 200]
        await slack.wait_until(
            lambda: "saved the note" in texts(slack, CHANNEL, asked.ts)[-1], timeout=20
        )
        await asyncio.sleep(1.5)  # room for a second continuation or card edit, if any came

        assert await bots.notes() == [WATER_NOTE]
        audit = await bots.query("SELECT action FROM audit WHERE action != 'refused' ORDER BY id")
        assert audit == [("approved",), ("ran",)]  # one decision, one write
        decided = slack.message(CHANNEL, card.ts)
        assert "Approved by <@UBOB>" in decided.visible_text()
        assert decided.buttons() == []
        approved_edits = [
            call
            for call in slack.calls_to("chat.update")
            if call.params.get("ts") == card.ts and "Approved" in str(call.params)
        ]
        assert len(approved_edits) == 1, approved_edits
        proposal, shown_card, outcome = bot_replies(slack, CHANNEL, asked.ts)  # no second answer
        assert shown_card.ts == card.ts
        assert "Waiting for approval" in proposal.visible_text()
        assert "saved the note" in outcome.visible_text() and finished(outcome)
        told = [e.get("text", "") for e in slack.ephemerals(CHANNEL, "UBOB")]
        assert len(told) <= 1 and all("already" in text for text in told), told
        no_tracebacks(bots)


async def test_a_follow_up_on_another_replica_waits_for_the_answer_before_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with (
        SlackEmulator() as slack,
        replicas(
            slack, tmp_path, postgres_server.new_database(), DEMO_TOKENS_PER_SECOND="20"
        ) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
        streamer = await bots.owner_of(thread_id(CHANNEL, asked.ts))
        with bots.only_to(bots.other_than(streamer)):
            _, deliveries = await slack.user_says(
                "UALICE", CHANNEL, "find notes about tea", thread_ts=asked.ts
            )
        assert [d.status for d in deliveries] == [200]
        assert streaming(slack, asked.ts)  # the follow-up came while the first answer ran
        await slack.wait_until(
            lambda: (
                len(replies := bot_replies(slack, CHANNEL, asked.ts)) == 2
                and all(finished(m) for m in replies)
            ),
            timeout=30,
        )
        await asyncio.sleep(0.5)
        first, second = bot_replies(slack, CHANNEL, asked.ts)
        assert hello_answered(first)
        assert "tea" in second.visible_text().lower()
        # One at a time: the second answer appeared only once the first was whole.
        assert second.versions[0]["at"] >= first.versions[-1]["at"]
        no_tracebacks(bots)


async def test_kill_9_of_the_streaming_replica_another_continues_in_the_same_message(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with (
        SlackEmulator() as slack,
        replicas(
            slack, tmp_path, postgres_server.new_database(), DEMO_TOKENS_PER_SECOND="15"
        ) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
        streamer = await bots.owner_of(thread_id(CHANNEL, asked.ts))
        bots.kill(streamer)
        await streamer.process.wait()
        [partial] = bot_replies(slack, CHANNEL, asked.ts)
        assert not partial.visible_text().endswith(HELP_ENDING)  # killed mid-answer
        survivor = bots.other_than(streamer)
        # The survivor sees the dead pid at its next heartbeat (≤ 10 s), then answers again.
        await slack.wait_until(
            lambda: hello_answered(bot_replies(slack, CHANNEL, asked.ts)[0]), timeout=30
        )
        await asyncio.sleep(0.5)
        [answer] = bot_replies(slack, CHANNEL, asked.ts)  # no second answer message
        assert answer.ts == partial.ts
        assert answer.buttons() == []
        assert answer.visible_text().count(HELLO) == 1
        assert any("a stopped process left" in line for line in survivor.log), bots.logs()
        no_tracebacks(bots)


async def test_stop_clicked_on_the_replica_that_does_not_run_the_answer_stops_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with (
        SlackEmulator() as slack,
        replicas(
            slack, tmp_path, postgres_server.new_database(), DEMO_TOKENS_PER_SECOND="10"
        ) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
        streamer = await bots.owner_of(thread_id(CHANNEL, asked.ts))
        [answer] = bot_replies(slack, CHANNEL, asked.ts)
        with bots.only_to(bots.other_than(streamer)):
            delivery = await slack.click("UALICE", CHANNEL, answer.ts, STOP)
        assert delivery.status == 200
        clicked = time.monotonic()
        await slack.wait_until(
            lambda: STOPPED in slack.message(CHANNEL, answer.ts).visible_text(), timeout=10
        )
        waited = time.monotonic() - clicked
        assert waited < 2.5, f"stopped {waited:.1f} s after the click"
        await asyncio.sleep(1)
        [stopped] = bot_replies(slack, CHANNEL, asked.ts)
        assert stopped.ts == answer.ts
        assert stopped.buttons() == []
        assert not stopped.visible_text().removesuffix(STOPPED).rstrip().endswith(HELP_ENDING)
        assert slack.ephemerals(CHANNEL, "UALICE") == []  # nobody was told it could not stop
        no_tracebacks(bots)


async def test_socket_mode_two_connections_each_mention_answered_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    async with (
        SlackEmulator() as slack,
        replicas(
            slack, tmp_path, postgres_server.new_database(), SLACK_APP_TOKEN=slack.app_token
        ) as bots,
    ):
        assert slack.socket_connections == 2
        # Each mention is two events (app_mention and message): one over each connection.
        asked = [
            (await slack.user_says("UALICE", CHANNEL, f"<@UBOT> hello {n}"))[0] for n in range(6)
        ]
        await slack.wait_until(
            lambda: all(
                len(replies := bot_replies(slack, CHANNEL, m.ts)) >= 1 and finished(replies[0])
                for m in asked
            ),
            timeout=30,
        )
        await asyncio.sleep(1)
        for message in asked:
            [answer] = bot_replies(slack, CHANNEL, message.ts)
            assert hello_answered(answer), answer.visible_text()
        assert slack.socket_connections == 2
        no_tracebacks(bots)


async def test_three_replicas_answer_six_threads_with_follow_ups_once_each_in_order(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    words = ("tea", "coffee", "water", "juice", "cocoa", "cider")
    async with (
        SlackEmulator() as slack,
        replicas(
            slack,
            tmp_path,
            postgres_server.new_database(),
            count=3,
        ) as bots,
    ):
        asked = await asyncio.gather(
            *(slack.user_says("UALICE", CHANNEL, "<@UBOT> hello") for _ in words)
        )
        roots = [message for message, _ in asked]
        follow_ups = await asyncio.gather(
            *(
                slack.user_says("UALICE", CHANNEL, f"find notes about {word}", thread_ts=root.ts)
                for root, word in zip(roots, words, strict=True)
            )
        )
        assert all(d.status == 200 for _, ds in [*asked, *follow_ups] for d in ds)

        def all_answered() -> bool:
            for root in roots:
                replies = bot_replies(slack, CHANNEL, root.ts)
                if len(answers(slack, CHANNEL, root.ts)) < 2 or not all(map(finished, replies)):
                    return False
            return True

        await slack.wait_until(all_answered, timeout=60)
        await asyncio.sleep(1)
        for root, word in zip(roots, words, strict=True):
            first, second = answers(slack, CHANNEL, root.ts)
            assert whole_hello(first), [m.visible_text() for m in first]
            shown = "".join(m.visible_text() for m in second).lower()
            assert word in shown, shown
            # The follow-up started after the first answer's text was complete.
            complete = min(v["at"] for v in first[-1].versions if HELP_ENDING in v["text"])
            assert second[0].versions[0]["at"] >= complete
        no_tracebacks(bots)


async def test_thirty_answers_on_two_replicas_keep_to_one_workspace_budget(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Slack's real tiers (chat.update ~50/min): the replicas share one budget, so together
    they edit no faster than one replica may, and never call inside a Retry-After window.
    About a minute: 30 answers at 38 edits a minute."""
    channels = [f"C0LOAD{i:02d}" for i in range(10)]
    async with SlackEmulator(enforce_rate_limits=True) as slack:
        for channel in channels:
            slack.add_channel(channel, channel.lower(), members=["UALICE", "UBOT"])
        async with replicas(slack, tmp_path, postgres_server.new_database()) as bots:
            asked = await asyncio.gather(
                *(
                    slack.user_says("UALICE", channels[n % len(channels)], "<@UBOT> hello")
                    for n in range(30)
                )
            )
            assert all(d.status == 200 for _, ds in asked for d in ds)

            def every_answer_whole() -> bool:
                for message, _ in asked:
                    replies = [
                        m for m in slack.thread(message.channel, message.ts) if m.user == "UBOT"
                    ]
                    if not replies or not whole_hello(replies):
                        return False
                return True

            await slack.wait_until(every_answer_whole, timeout=240)
            await asyncio.sleep(1)
            shown = set()
            for message, _ in asked:
                [answer] = answers(slack, message.channel, message.ts)  # in one or more parts
                shown.add("".join(part.text for part in answer))
            assert len(shown) == 1  # every answer is the same whole text
            assert slack.calls_inside_retry_after == 0
            times = sorted(call.at for call in slack.calls_to("chat.update"))
            busiest = max(
                sum(1 for t in times[i:] if t < start + 60) for i, start in enumerate(times)
            )
            rejected = [c for c in slack.calls if c.status == 429]
            assert busiest <= 46, (busiest, len(rejected))
            no_tracebacks(bots)


async def open_storage_once(url: str) -> None:
    async with PostgresStorage.open(url):
        pass


async def test_replicas_starting_together_set_up_once(postgres_server: PostgresServer) -> None:
    """Two replicas start on an empty database and both reach the setup lock before either
    holds it (a gate holds it a moment, as a slower third replica would): both come up.

    What each replica runs at start is `PostgresStorage.open`; it is run here in-process so
    that the moment both wait is certain, not a race between two process starts."""
    url = postgres_server.new_database()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as gate:
        await gate.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        replicas_starting = [asyncio.create_task(open_storage_once(url)) for _ in range(2)]
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = %s AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())"
        )
        for _ in range(60):  # both wait on the lock (or, polling for it, have had time to)
            row = await (await gate.execute(waiting, (SETUP_LOCK,))).fetchone()
            if row and row[0] == 2:
                break
            await asyncio.sleep(0.05)
        await gate.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        done, hung = await asyncio.wait(replicas_starting, timeout=10)
        if hung:
            cursor = await gate.execute(
                "SELECT wait_event_type, wait_event, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid != pg_backend_pid()"
            )
            seen = await cursor.fetchall()
            await gate.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid != pg_backend_pid()"
            )
            for task in hung:
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*hung, return_exceptions=True), timeout=10)
            raise AssertionError(f"{len(hung)} replica(s) never finished setting up: {seen}")
        for task in done:
            task.result()


async def test_a_replica_starting_while_another_streams_leaves_its_answer_alone(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Pitfall 33: a process that "releases stranded work" at start-up must not take what a
    live replica is running. The newcomer's reconciler runs before it takes traffic."""
    async with (
        SlackEmulator() as slack,
        replicas(
            slack, tmp_path, postgres_server.new_database(), count=1, DEMO_TOKENS_PER_SECOND="3"
        ) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> hello")
        await slack.wait_until(lambda: streaming(slack, asked.ts), timeout=20)
        [streamer] = bots.processes
        newcomer_home = tmp_path / "newcomer"
        newcomer_home.mkdir()
        async with bot_process(slack, newcomer_home, database_url=bots.database_url) as newcomer:
            assert streaming(slack, asked.ts), texts(slack, CHANNEL, asked.ts)  # still running
            await slack.wait_until(
                lambda: hello_answered(bot_replies(slack, CHANNEL, asked.ts)[0]), timeout=90
            )
            await asyncio.sleep(0.5)
            [answer] = bot_replies(slack, CHANNEL, asked.ts)
            assert answer.visible_text().count(HELLO) == 1
            assert not any("a stopped process left" in line for line in newcomer.log)
            attempts = await bots.query("SELECT DISTINCT attempts FROM inbox")
            assert attempts == [(1,)]  # taken once, never again
        assert streamer.process.returncode is None
        no_tracebacks(bots)


async def test_two_person_approval_across_replicas_survives_a_kill_between_the_votes(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Bob's approval is counted on one replica, which is then killed; Carol's and a repeat of
    Bob's land on the other at once: the note is written once, with both names on the card."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - tool: save_note\n    decision: approve\n    approvals: 2\n")
    async with (
        SlackEmulator() as slack,
        replicas(slack, tmp_path, postgres_server.new_database(), POLICY_FILE=str(policy)) as bots,
    ):
        asked, _ = await slack.user_says("UALICE", CHANNEL, "<@UBOT> save a note about water")
        await slack.wait_until(
            lambda: any(
                b["action_id"] == APPROVE
                for b in bot_replies(slack, CHANNEL, asked.ts)[-1].buttons()
            ),
            timeout=20,
        )
        card = bot_replies(slack, CHANNEL, asked.ts)[-1]
        first, second = bots.processes
        with bots.only_to(first):
            delivery = await slack.click("UBOB", CHANNEL, card.ts, APPROVE)
        assert delivery.status == 200
        await slack.wait_until(
            lambda: "1 of 2 approvals: <@UBOB>" in slack.message(CHANNEL, card.ts).visible_text(),
            timeout=20,
        )
        bots.kill(first)
        deliveries = await asyncio.gather(
            slack.click("UCAROL", CHANNEL, card.ts, APPROVE),
            slack.click("UBOB", CHANNEL, card.ts, APPROVE),
        )
        assert [d.status for d in deliveries] == [200, 200]
        await slack.wait_until(
            lambda: "saved the note" in texts(slack, CHANNEL, asked.ts)[-1], timeout=30
        )
        await asyncio.sleep(1.5)  # room for a second run or card edit, if any came

        assert await bots.notes() == [WATER_NOTE]
        audit = await bots.query("SELECT action, actor FROM audit WHERE action != 'refused'")
        assert audit == [("approval counted", "UBOB"), ("approved", "UCAROL"), ("ran", "UCAROL")]
        decided = slack.message(CHANNEL, card.ts).visible_text()
        assert "<@UBOB>" in decided and "<@UCAROL>" in decided
        assert slack.message(CHANNEL, card.ts).buttons() == []
        told = [e.get("text", "") for e in slack.ephemerals(CHANNEL, "UBOB")]
        # Bob's repeat came before Carol's ("already counted") or after it ("already answered")
        assert "already" in told[-1], told
        assert not any("Traceback" in line for line in second.log), bots.logs()
