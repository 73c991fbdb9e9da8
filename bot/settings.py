"""The bot's settings (DESIGN §6): the agent's, plus Slack's. Read once at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from agent import AgentSettings, CommaSeparated, ConfigurationError
from bot.slack_ids import is_group_id, is_user_id

APPS_PAGE = "https://api.slack.com/apps"

ConnectionMode = Literal["socket", "http"]


def api_token_users(tokens: SecretStr) -> dict[str, str]:
    """`s3cret:U0ALICE001,other:U0BOB00001` → {token: user id}; ValueError on a bad entry
    (the message never repeats a token)."""
    users: dict[str, str] = {}
    for position, entry in enumerate(tokens.get_secret_value().split(","), start=1):
        if not entry.strip():
            continue
        token, _, user = entry.strip().rpartition(":")
        if not token or not is_user_id(user):
            raise ValueError(
                f"entry {position} is not `token:USERID` (a bearer token, a colon, then the "
                "Slack user ID it acts as, U…/W…)"
            )
        users[token] = user
    return users


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
    api_tokens: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    otel_exporter_otlp_endpoint: str | None = None
    """OpenTelemetry's standard base URL (`http://collector:4318`): traces on when set."""
    otel_exporter_otlp_headers: SecretStr | None = None
    """Headers for the collector (`api-key=…,team=…`), as OpenTelemetry writes them."""
    otel_service_name: str = "countersign"

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "api_tokens", mode="before"
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        """`SLACK_APP_TOKEN=` (as .env.example has it) means not set, not an invalid token.
        Not named as AgentSettings' validator: the same name would replace it, and an empty
        POLICY_FILE= would become the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_headers", mode="before")
    @classmethod
    def _empty_otel_is_unset(cls, value: object) -> object:
        """`OTEL_EXPORTER_OTLP_ENDPOINT=` (as .env.example has it) means traces off."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("approvers")
    @classmethod
    def _check_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (is_user_id(item) or is_group_id(item)):
                raise ValueError(
                    f"{item!r} is not a Slack user ID (U…/W…) or user-group ID (S…); "
                    "find IDs in a profile's ⋮ menu → Copy member ID"
                )
        return value

    @field_validator("api_tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            api_token_users(value)  # raises naming the entry that cannot work
        return value

    def api_users(self) -> dict[str, str]:
        """API_TOKENS as bearer token → the Slack user id it acts as (empty: no tokens)."""
        return api_token_users(self.api_tokens) if self.api_tokens is not None else {}

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
