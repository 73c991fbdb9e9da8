"""The benchmark's workspace: one channel per conversation, so chat.postMessage's per-channel
limit (1/s) is never what holds an answer back."""

from __future__ import annotations

from playground.slack import SlackEmulator

ASKER = "UALICE"
"""Who starts every conversation."""
APPROVER = "UBOB"
"""Who clicks Approve (and chats in the channels meanwhile)."""


def channel_id(index: int) -> str:
    return f"C0BENCH{index + 1:03d}"


def add_channels(slack: SlackEmulator, count: int) -> list[str]:
    """Channels C0BENCH001… with the people and the bot as members."""
    channels = [channel_id(i) for i in range(count)]
    for index, channel in enumerate(channels):
        members = [ASKER, APPROVER, slack.bot_user_id]
        slack.add_channel(channel, f"bench-{index + 1:03d}", kind="channel", members=members)
    return channels
