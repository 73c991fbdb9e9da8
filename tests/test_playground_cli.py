"""`python -m bot` with no Slack settings opens the playground; with some, it still says what
is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.__main__ import main
from bot.settings import BotSettings
from tests.bot_process import playground_process

ROOT = Path(__file__).resolve().parent.parent


async def test_no_slack_settings_at_all_opens_the_playground(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")  # a fresh copy: Slack values empty
    async with playground_process(tmp_path) as playground:
        assert playground.url.startswith("http://127.0.0.1:")
        (line,) = [line for line in playground.log if "playground" in line]
        assert "SLACK_BOT_TOKEN" in line and "model demo" in line
        async with aiohttp.ClientSession() as session:
            async with session.get(playground.url) as page:
                assert page.status == 200
            async with session.get(playground.url + "api/state?user=UALICE") as state:
                assert [c["name"] for c in (await state.json())["conversations"]] == [
                    "general",
                    "private",
                    "countersign",
                ]
    assert playground.process.returncode == 0
    assert not (tmp_path / "countersign.db").exists()  # the local workspace keeps nothing


@pytest.mark.parametrize(
    ("slack", "missing"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-only-a-token"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_SIGNING_SECRET": "a-secret"}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is not set"),
    ],
)
def test_some_slack_settings_but_not_all_still_name_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: dict[str, str], missing: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in slack.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["python -m bot"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert str(exited.value.code).startswith(f"countersign: {missing}")


def settings(**values: Any) -> BotSettings:
    return BotSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_only_empty_or_unset_slack_settings_mean_the_playground() -> None:
    def configured(**values: Any) -> bool:
        return settings(**values).slack_configured()

    assert not configured()
    assert not configured(slack_bot_token="", slack_app_token=" ", slack_signing_secret="")
    assert configured(slack_signing_secret="x")
    assert not configured(slack_api_url="http://localhost:1/api/")  # not a credential


def test_an_empty_app_token_means_http_mode_as_env_example_says() -> None:
    http = settings(slack_bot_token="xoxb-1", slack_signing_secret="secret", slack_app_token="")
    assert http.mode() == "http"


def test_empty_file_settings_mean_no_file_in_the_bots_settings_too() -> None:
    """`.env.example` leaves MCP_CONFIG and POLICY_FILE empty: no file, not the current folder."""
    values = settings(mcp_config="", policy_file=" ", slack_bot_token="")
    assert (values.mcp_config, values.policy_file, values.slack_bot_token) == (None, None, None)
