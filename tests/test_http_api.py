"""The HTTP/SSE API through a real HTTP client against the running bot: streamed answers read
event by event as a browser would, pauses resumed by a second request (and decided in Slack
instead), a disconnect and a re-attach, Stop, and every error status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.settings import BotSettings
from playground.session import open_playground
from tests.bot_harness import SlackBot, slack_bot
from tests.mock_llm_server import MockLLMServer, Reply
from tests.test_bot_approvals import CHANNEL, ask_to_save, card_in, click, notes

TOKENS = {"UALICE": "alice-secret-1", "UBOB": "bob-secret-22", "UCAROL": "carol-secret-3"}
API_TOKENS = ",".join(f"{token}:{user}" for user, token in TOKENS.items())


@dataclass
class Event:
    name: str
    data: dict[str, Any]


def headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Parse a text/event-stream as a browser's EventSource does, event by event."""
    name, data = "message", []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        if not line:
            if data:
                yield Event(name, json.loads("\n".join(data)))
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])


async def stream(
    http: aiohttp.ClientSession, bot: SlackBot, path: str, user: str, body: dict[str, Any]
) -> list[Event]:
    async with http.post(bot.running.url + path, json=body, headers=headers(user)) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        return [event async for event in read_events(response)]


def names(events: list[Event]) -> list[str]:
    return [event.name for event in events]


def text_of(events: list[Event]) -> str:
    return "".join(event.data["text"] for event in events if event.name == "token")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_run_streams_tokens_then_done(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, api_tokens=API_TOKENS) as bot:
        events = await stream(http, bot, "/api/threads/t-hello/runs", "UALICE", {"input": "hello"})
        assert names(events)[-1] == "done" and names(events).count("token") > 1
        assert text_of(events) == events[-1].data["text"]
        assert "Countersign demo model" in events[-1].data["text"]
        async with http.get(
            bot.running.url + "/api/threads/t-hello", headers=headers("UBOB")
        ) as response:
            thread = await response.json()
        assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]
        assert thread["pending"] is None and thread["running"] is False


async def test_a_pause_is_resumed_by_a_second_request_once(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, api_tokens=API_TOKENS) as bot:
        first = await stream(
            http, bot, "/api/threads/t-note/runs", "UALICE", {"input": "save a note about water"}
        )
        assert names(first)[-1] == "approval_requested"
        pause = first[-1].data
        assert pause["tool"] == "save_note" and pause["arguments"]["title"] == "Water"
        assert pause["requested_by"] == "UALICE" and pause["expires_at"] > pause["created_at"]
        assert await notes(bot) == []

        async with http.get(bot.running.url + "/api/pauses", headers=headers("UBOB")) as response:
            listed = (await response.json())["pauses"]
        assert [p["interrupt_id"] for p in listed] == [pause["interrupt_id"]]

        resumed = await stream(
            http,
            bot,
            "/api/threads/t-note/resume",
            "UBOB",
            {"interrupt_id": pause["interrupt_id"], "decision": "approve"},
        )
        assert names(resumed)[0] == "tool_started" and names(resumed)[-1] == "done"
        assert "saved the note" in resumed[-1].data["text"]
        assert len(await notes(bot)) == 1
        rows = await bot.runtime.store.audit_rows()
        assert [(r["action"], r["actor"]) for r in rows] == [("approved", "UBOB"), ("ran", "UBOB")]

        again = await http.post(
            bot.running.url + "/api/threads/t-note/resume",
            json={"interrupt_id": pause["interrupt_id"], "decision": "approve"},
            headers=headers("UCAROL"),
        )
        assert again.status == 409
        assert (await again.json())["error"] == "already_handled"


async def test_two_concurrent_resumes_one_runs_one_is_refused(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, api_tokens=API_TOKENS) as bot:
        first = await stream(
            http, bot, "/api/threads/t-race/runs", "UALICE", {"input": "save a note about tea"}
        )
        body = {"interrupt_id": first[-1].data["interrupt_id"], "decision": "approve"}

        async def resume(user: str) -> tuple[int, str]:
            async with http.post(
                bot.running.url + "/api/threads/t-race/resume", json=body, headers=headers(user)
            ) as response:
                return response.status, await response.text()

        results = sorted(await asyncio.gather(resume("UBOB"), resume("UCAROL")))
        assert [status for status, _ in results] == [200, 409]
        assert "event: done" in results[0][1]
        assert len(await notes(bot)) == 1


async def test_a_slack_pause_decided_in_the_api_closes_its_card_and_the_reverse(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(tmp_path, database_url=database_url, api_tokens=API_TOKENS) as bot:
        asked = await ask_to_save(bot, what="water")
        card = card_in(bot, asked.ts)
        thread = f"T0001:{CHANNEL}:{asked.ts}"
        async with http.get(bot.running.url + "/api/pauses", headers=headers("UBOB")) as response:
            (pause,) = (await response.json())["pauses"]
        assert pause["thread_id"] == thread
        resumed = await stream(
            http,
            bot,
            f"/api/threads/{thread}/resume",
            "UBOB",
            {"interrupt_id": pause["interrupt_id"], "decision": "approve"},
        )
        assert names(resumed)[-1] == "done"
        await bot.idle()
        decided = bot.slack.message(CHANNEL, card.ts)
        assert decided.buttons() == [] and "Approved by <@UBOB>" in decided.visible_text()
        assert "saved the note" in bot.replies(CHANNEL, asked.ts)[-1].visible_text()

        other = await ask_to_save(bot, what="tea")  # now the click comes first
        other_card = card_in(bot, other.ts)
        other_thread = f"T0001:{CHANNEL}:{other.ts}"
        async with http.get(
            bot.running.url + f"/api/threads/{other_thread}", headers=headers("UBOB")
        ) as response:
            waiting = (await response.json())["pending"]
        await click(bot, "UCAROL", other_card, "countersign_approve")
        late = await http.post(
            bot.running.url + f"/api/threads/{other_thread}/resume",
            json={"interrupt_id": waiting["interrupt_id"], "decision": "deny"},
            headers=headers("UBOB"),
        )
        assert late.status == 409
        assert "UCAROL" in (await late.json())["message"]
        assert len(await notes(bot)) == 2


async def test_a_disconnected_client_re_attaches_and_stop_ends_the_run(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(
        tmp_path,
        database_url=database_url,
        api_tokens=API_TOKENS,
        demo_tokens_per_second=20,
        approvers=["UBOB"],  # who may stop an answer: its starter or an approver
    ) as bot:
        url = bot.running.url + "/api/threads/t-slow"
        response = await http.post(
            url + "/runs", json={"input": "hello"}, headers=headers("UALICE")
        )
        first = await anext(read_events(response))
        assert first.name == "token"
        response.close()  # the client goes away; the run goes on

        async with http.get(url + "/events", headers=headers("UALICE")) as attached:
            events = [event async for event in read_events(attached)]
        assert events[0] == first  # replayed from the run's first event
        assert names(events)[-1] == "done" and text_of(events) == events[-1].data["text"]

        response = await http.post(
            url + "/runs", json={"input": "hello"}, headers=headers("UALICE")
        )
        assert (await anext(read_events(response))).name == "token"
        refused = await http.post(url + "/stop", headers=headers("UCAROL"))  # not theirs
        assert refused.status == 403
        stopped = await http.post(url + "/stop", headers=headers("UALICE"))
        assert stopped.status == 202
        rest = [event async for event in read_events(response)]
        assert rest[-1].name == "done" and rest[-1].data["stopped"] is True
        await bot.idle()  # the item is finished just after its last event
        idle = await http.post(url + "/stop", headers=headers("UALICE"))
        assert idle.status == 409


async def test_every_error_is_a_json_4xx(
    tmp_path: Path, http: aiohttp.ClientSession, database_url: str
) -> None:
    async with slack_bot(
        tmp_path,
        database_url=database_url,
        api_tokens=API_TOKENS,
        approvers=["UBOB"],
        allow_self_approval=False,
    ) as bot:
        base = bot.running.url + "/api/threads/t-errors"

        async def status(
            method: str, path: str, user: str | None = "UALICE", **kw: Any
        ) -> tuple[int, str]:
            sent = headers(user) if user else {}
            async with http.request(method, base + path, headers=sent, **kw) as response:
                body = await response.json()
                assert set(body) >= {"error", "message"}
                return response.status, body["error"]

        assert await status("POST", "/runs", user=None, json={"input": "hi"}) == (
            401,
            "unauthorized",
        )
        async with http.post(
            base + "/runs", json={"input": "hi"}, headers={"Authorization": "Bearer nope-nope"}
        ) as response:
            assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert await status("POST", "/runs", data=b"{not json") == (400, "invalid_json")
        assert await status("POST", "/runs", json=["input"]) == (400, "invalid_json")
        assert await status("POST", "/runs", json={"input": ""}) == (422, "invalid_input")
        assert await status("GET", "") == (404, "unknown_thread")
        assert await status("GET", "/events") == (404, "unknown_thread")
        body = {"interrupt_id": "x", "decision": "maybe"}
        assert await status("POST", "/resume", json=body) == (422, "invalid_input")
        body = {"interrupt_id": "x", "decision": "approve"}
        assert await status("POST", "/resume", json=body) == (404, "unknown_thread")

        paused = await stream(
            http, bot, "/api/threads/t-errors/runs", "UALICE", {"input": "save a note about tea"}
        )
        interrupt = paused[-1].data["interrupt_id"]
        assert await status("POST", "/runs", json={"input": "hi"}) == (409, "paused")
        approve = {"interrupt_id": interrupt, "decision": "approve"}
        assert await status("POST", "/resume", json=approve) == (403, "not_allowed")  # own
        assert await status("POST", "/resume", "UCAROL", json=approve) == (403, "not_allowed")
        edit = {"interrupt_id": interrupt, "decision": "edit", "arguments": {"title": 5}}
        assert await status("POST", "/resume", "UBOB", json=edit) == (422, "invalid_arguments")
        stale = {"interrupt_id": "not-this-one", "decision": "approve"}
        assert await status("POST", "/resume", "UBOB", json=stale) == (409, "stale")
        assert await status("POST", "/stop") == (409, "not_running")
        assert await notes(bot) == []

        async with http.get(bot.running.url + "/api/openapi.json") as response:
            document = await response.json()
        assert "/api/threads/{thread_id}/resume" in document["paths"]


async def test_without_tokens_the_api_is_off(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with (
        slack_bot(tmp_path) as bot,
        http.post(bot.running.url + "/api/threads/t/runs", json={"input": "hi"}) as response,
    ):
        assert response.status == 404


def test_api_tokens_are_read_as_token_colon_user_and_a_bad_entry_stops_start_up() -> None:
    settings = BotSettings(_env_file=None, api_tokens="s3cret:U0ALICE001, other:U0BOB00001")  # type: ignore[call-arg]
    assert settings.api_users() == {"s3cret": "U0ALICE001", "other": "U0BOB00001"}
    with pytest.raises(ValidationError) as refused:
        BotSettings(_env_file=None, api_tokens="s3cret:U0ALICE001,just-a-token")  # type: ignore[call-arg]
    message = refused.value.errors()[0]["msg"]  # what start-up prints (bot/__main__.py)
    assert "entry 2 is not `token:USERID`" in message
    assert "just-a-token" not in message  # never repeats a secret


async def test_the_playground_serves_the_api_without_tokens(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "API_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    settings = BotSettings(_env_file=None, port=0, demo_tokens_per_second=0)  # type: ignore[call-arg]
    async with open_playground(settings) as playground:
        url = playground.bot.url + "/api/threads/t-play/runs"
        async with http.post(url, json={"input": "hello"}) as response:
            assert response.status == 422  # no tokens here: name yourself
            assert "user" in (await response.json())["message"]
        async with http.post(url, json={"input": "hello", "user": "UBOB"}) as response:
            events = [event async for event in read_events(response)]
        assert names(events)[-1] == "done"


async def test_a_failing_model_ends_the_stream_with_error_and_the_thread_still_works(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with MockLLMServer() as llm:
        llm.enqueue(Reply(status=500), Reply(text="Back again."))
        async with slack_bot(
            tmp_path,
            api_tokens=API_TOKENS,
            llm_model="openai/mock",
            llm_api_base=llm.base_url,
            llm_api_key="sk-test",
            llm_max_retries=0,
        ) as bot:
            failed = await stream(http, bot, "/api/threads/t-fail/runs", "UALICE", {"input": "hi"})
            assert names(failed) == ["error"] and failed[0].data["message"]
            again = await stream(http, bot, "/api/threads/t-fail/runs", "UALICE", {"input": "hi"})
            assert names(again)[-1] == "done" and again[-1].data["text"] == "Back again."


async def test_a_client_watching_a_paused_thread_sees_the_slack_click_continue_it(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with slack_bot(tmp_path, api_tokens=API_TOKENS) as bot:
        asked = await ask_to_save(bot, what="water")
        card = card_in(bot, asked.ts)
        url = bot.running.url + f"/api/threads/T0001:{CHANNEL}:{asked.ts}/events"
        async with http.get(url, headers=headers("UBOB")) as watching:
            events = read_events(watching)
            first = await anext(events)
            assert first.name == "approval_requested"
            await click(bot, "UCAROL", card, "countersign_approve")  # decided in Slack
            rest = [event async for event in events]
        assert names(rest)[0] == "tool_started" and names(rest)[-1] == "done"
        assert "saved the note" in rest[-1].data["text"]
