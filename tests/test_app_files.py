"""manifest.yml, .env.example and the README match what the code reads and handles."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot import agent_view, listeners
from bot.settings import BotSettings

ROOT = Path(__file__).resolve().parent.parent


def manifest() -> dict[str, object]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())  # type: ignore[no-any-return]


def test_manifest_subscribes_to_the_events_the_bot_handles() -> None:
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]  # type: ignore[index]
    assert sorted(events) == [
        "agent_session_stopped",
        "app_home_opened",
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
    ]
    assert {event.split(".")[0] for event in events} == set(listeners.EVENT_TYPES)
    home = manifest()["features"]["app_home"]  # type: ignore[index]
    assert home["home_tab_enabled"] is True  # views.publish needs no scope of its own
    assert manifest()["settings"]["interactivity"]["is_enabled"] is True  # type: ignore[index]


def test_manifest_declares_the_agent_view_the_bot_offers() -> None:
    """The agent view's prompts are the ones the bot sets when a conversation opens, and the
    scope its status line needs is granted."""
    view = manifest()["features"]["agent_view"]  # type: ignore[index]
    prompts = [(p["title"], p["message"]) for p in view["suggested_prompts"]]
    assert prompts == list(agent_view.SUGGESTED_PROMPTS)
    assert view["agent_description"].strip()
    scopes = manifest()["oauth_config"]["scopes"]["bot"]  # type: ignore[index]
    assert "assistant:write" in scopes
    assert manifest()["settings"]["socket_mode_enabled"] is True  # type: ignore[index]


def test_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])  # type: ignore[index]
    source = "\n".join(p.read_text() for p in (ROOT / "bot").glob("*.py"))
    used = set()
    if "app_mention" in source:
        used.add("app_mentions:read")
    if re.search(r"chat_(postMessage|update|postEphemeral)", source):
        used.add("chat:write")
    if "usergroups_users_list" in source:
        used.add("usergroups:read")
    if "conversations_members" in source:  # the conversation may be any kind
        used |= {"channels:read", "groups:read", "im:read"}
    if "conversations_open" in source:
        used.add("im:write")
    if re.search(r"assistant_threads_set(Status|SuggestedPrompts)", source):
        used.add("assistant:write")  # the agent view's status line and prompts
    # message.* subscriptions need the matching history scopes (and replies reads them back).
    used |= {"channels:history", "groups:history", "im:history"}
    assert scopes == used


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    settings = {name.upper() for name in BotSettings.model_fields}
    assert listed == settings


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "uv run python -m bot" in readme
    assert "uv run pytest" in readme and "uv run pytest" in ci
