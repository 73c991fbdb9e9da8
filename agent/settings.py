"""The agent's settings, read once at start-up from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent.errors import ConfigurationError


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
    agent_tools: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("agent_tools", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    def sqlite_path(self) -> Path:
        """The SQLite file named by DATABASE_URL (`sqlite:///relative` or `sqlite:////absolute`)."""
        url = self.database_url
        if not url.startswith("sqlite:///"):
            raise ConfigurationError(
                f"DATABASE_URL={url!r} is not supported yet: use sqlite:///path/to/file.db"
            )
        return Path(url.removeprefix("sqlite:///"))
