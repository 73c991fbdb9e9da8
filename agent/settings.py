"""The agent's settings, read once at start-up from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
"""A list setting written as `a, b, c` in the environment (not JSON, as pydantic would want)."""


class AgentSettings(BaseSettings):
    """Settings of DESIGN §6 that the agent reads; the bot's settings extend these."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    llm_model: str = "demo"
    llm_api_base: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    demo_tokens_per_second: float = Field(default=30.0, ge=0)
    database_url: str = "sqlite:///./countersign.db"
    agent_tools: CommaSeparated = Field(default_factory=list)
    mcp_config: Path | None = None
    policy_file: Path | None = None

    @field_validator("mcp_config", "policy_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        """`POLICY_FILE=` (as .env.example has it) means no file, not the current directory.

        Named apart from BotSettings' own validator: a subclass method of the same name would
        replace this one, and the current directory would be read as a policy."""
        return None if isinstance(value, str) and not value.strip() else value
