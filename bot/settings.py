"""The bot's settings (DESIGN §6): the agent's, plus Slack's. Read once at start-up."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from agent import AgentSettings, CommaSeparated, ConfigurationError

APPS_PAGE = "https://api.slack.com/apps"
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")

ConnectionMode = Literal["socket", "http"]


class BotSettings(AgentSettings):
    """Everything `python -m bot` reads."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    approvers: CommaSeparated = Field(default_factory=list)
    allow_self_approval: bool = True
    approval_ttl_seconds: float = Field(default=3600.0, gt=0)
    ask_human_responders: Literal["requester", "anyone"] = "requester"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`SLACK_APP_TOKEN=` (as .env.example has it) means not set, not an invalid token."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("approvers")
    @classmethod
    def _check_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SLACK_ID.match(item):
                raise ValueError(
                    f"{item!r} is not a Slack user ID (U…/W…) or user-group ID (S…); "
                    "find IDs in a profile's ⋮ menu → Copy member ID"
                )
        return value

    def slack_configured(self) -> bool:
        """Whether any Slack credential is set. With none (a fresh copy of .env.example
        included), `python -m bot` opens the local playground; with some, `mode()` names what
        is missing."""
        secrets = (self.slack_bot_token, self.slack_app_token, self.slack_signing_secret)
        return any(secret is not None for secret in secrets)

    def mode(self) -> ConnectionMode:
        """Socket Mode when an app token is set, else HTTP; raises naming what is missing."""
        self._require_bot_token()
        if self.slack_app_token is not None:
            if not self.slack_app_token.get_secret_value().startswith("xapp-"):
                raise ConfigurationError(
                    "SLACK_APP_TOKEN must start with xapp-: create an app-level token with the "
                    "connections:write scope under Basic Information → App-Level Tokens "
                    f"({APPS_PAGE})"
                )
            return "socket"
        if self.slack_signing_secret is None:
            raise ConfigurationError(
                "SLACK_SIGNING_SECRET is not set (needed in HTTP mode): copy it from Basic "
                f"Information → App Credentials ({APPS_PAGE}), or set SLACK_APP_TOKEN for "
                "Socket Mode"
            )
        return "http"

    def _require_bot_token(self) -> None:
        if self.slack_bot_token is None:
            raise ConfigurationError(
                "SLACK_BOT_TOKEN is not set: install the app to your workspace and copy the Bot "
                f"User OAuth Token (xoxb-…) from OAuth & Permissions ({APPS_PAGE}); see README"
            )
        if not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            raise ConfigurationError(
                "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (OAuth & Permissions → "
                f"Bot User OAuth Token, {APPS_PAGE})"
            )
