"""A person's playground page without a browser: the same JSON endpoints and event stream the
page uses, with helpers that read what that person would see."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from playground.slack.records import blocks_text

JSONObject = dict[str, Any]


@dataclass
class LivePage:
    """What /api/events has told one person so far, merged as the page merges it."""

    session: aiohttp.ClientSession
    url: str
    user: str
    state: JSONObject = field(default_factory=lambda: {"messages": {}})
    calls: list[JSONObject] = field(default_factory=list)
    events: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, path: str, **body: Any) -> tuple[int, JSONObject]:
        """POST as this person; returns the status and the JSON answer."""
        async with self.session.post(self.url + path, json={"user": self.user, **body}) as resp:
            return resp.status, await resp.json()

    async def say(self, channel: str, text: str, thread_ts: str | None = None) -> str:
        status, answer = await self.post(
            "api/messages", channel=channel, text=text, thread_ts=thread_ts
        )
        assert status == 200, answer
        assert all(d["ok"] for d in answer["deliveries"]), answer
        return str(answer["ts"])

    async def click(self, message: JSONObject, action_id: str) -> JSONObject:
        status, answer = await self.post(
            "api/actions",
            channel=message["channel"],
            ts=message["ts"],
            action_id=action_id,
            value=button(message, action_id).get("value"),
        )
        assert status == 200 and answer["ok"], answer
        return answer

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 10) -> None:
        """Until the stream has shown something that makes `predicate` true."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(LookupError):
                    if predicate():
                        return
                self._changed.clear()
                await self._changed.wait()

    def thread(self, channel: str, ts: str) -> list[JSONObject]:
        """The thread as this person sees it: parent, replies and their ephemerals, in order."""
        messages = [
            {**m, "channel": channel}
            for m in self.state["messages"].get(channel, [])
            if m["ts"] == ts or m["thread_ts"] == ts
        ]
        own = [
            {**e, "ephemeral": True}
            for e in self.state.get("ephemerals", [])
            if e["channel"] == channel and e["thread_ts"] == ts
        ]
        return sorted(messages + own, key=lambda m: tuple(map(int, m["ts"].split("."))))

    def bot_texts(self, channel: str, ts: str) -> list[str]:
        return [visible_text(m) for m in self.thread(channel, ts) if m.get("bot")]

    async def read(self) -> None:
        """Follow /api/events until cancelled."""
        async with self.session.get(self.url + f"api/events?user={self.user}") as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            name, data = "", ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif not line and name:
                    self._apply(name, json.loads(data))
                    name, data = "", ""

    def _apply(self, name: str, data: Any) -> None:
        self.events += 1
        if name == "state":
            messages = {**self.state["messages"], **data.pop("messages", {})}
            self.state = {**self.state, **data, "messages": messages}
        elif name == "calls":
            self.calls.extend(data)
        self._changed.set()


@contextlib.asynccontextmanager
async def live_page(session: aiohttp.ClientSession, url: str, user: str) -> AsyncIterator[LivePage]:
    """A person with the page open, following its event stream."""
    page = LivePage(session, url, user)
    reader = asyncio.create_task(page.read())
    try:
        await page.wait_for(lambda: "directory" in page.state)
        yield page
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def visible_text(message: JSONObject) -> str:
    return blocks_text(message["blocks"]) or str(message["text"])


def button(message: JSONObject, action_id: str) -> JSONObject:
    for block in message["blocks"]:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return dict(element)
    raise LookupError(f"no button {action_id} in {message['ts']}")
