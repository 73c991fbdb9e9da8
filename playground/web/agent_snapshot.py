"""What Slack's agent surface shows one person, as JSON for the page: each thread's status line
("is thinking…"), its agent session and title, suggested prompts, and their App Home tab.

Kept apart from snapshot.py's messages because this state lives beside them in Slack (under a
thread, above the composer, in the Home tab), not in any message. Pure reads, no changes.
"""

from __future__ import annotations

from playground.slack import SlackEmulator
from playground.slack.records import JSONObject


def agent_surface(slack: SlackEmulator, channels: list[str]) -> JSONObject:
    """Per conversation with anything to show: {"top": …, "threads": {thread_ts: …}}, where
    "top" is the conversation itself (a DM's suggested prompts, a session without a thread)."""
    out: JSONObject = {}
    for channel in channels:
        threads: JSONObject = {}
        for message in slack.messages(channel):
            if message.thread_ts not in (None, message.ts):
                continue  # a reply, not a thread
            shown = _thread(slack, channel, message.ts)
            if shown:
                threads[message.ts] = shown
        top = _thread(slack, channel, None)
        if top or threads:
            out[channel] = {"top": top, "threads": threads}
    return out


def home(slack: SlackEmulator, user: str) -> JSONObject | None:
    """The Home tab the bot last published for `user` (views.publish), or None."""
    view = slack.home_view(user)
    if view is None:
        return None
    return {"id": view["id"], "hash": view.get("hash"), "blocks": view.get("blocks", [])}


def _thread(slack: SlackEmulator, channel: str, thread_ts: str | None) -> JSONObject | None:
    """What Slack shows around one thread (or the conversation when `thread_ts` is None)."""
    session = slack.session(channel, thread_ts)
    prompts = slack.workspace.agent.prompts.get((channel, thread_ts))
    status = slack.thread_status(channel, thread_ts) if thread_ts is not None else None
    title = slack.thread_title(channel, thread_ts) if thread_ts is not None else None
    if session is None and prompts is None and status is None and title is None:
        return None
    return {
        "status": status,
        "session": {"status": session["status"], "title": session["title"]} if session else None,
        "title": title,
        "prompts": (
            {"title": prompts["title"], "prompts": slack.suggested_prompts(channel, thread_ts)}
            if prompts
            else None
        ),
    }
