"""Countersign's agent: a LangGraph run that streams, pauses for people, and resumes exactly once.

This package is the only thing front ends import; it knows nothing about Slack.
"""

from agent.agent import Agent
from agent.approval_votes import ApprovalTally
from agent.database import Database, Transaction
from agent.errors import (
    AgentError,
    ConfigurationError,
    InvalidArguments,
    ResumeRefused,
    ThreadPaused,
)
from agent.events import (
    AgentEvent,
    Answer,
    ApprovalRequested,
    ApprovalRule,
    Approve,
    Decision,
    Deny,
    Edit,
    Expire,
    Failed,
    Finished,
    Pause,
    QuestionAsked,
    Resumed,
    TextDelta,
    ToolDenied,
    ToolFinished,
    ToolStarted,
)
from agent.migrations import Migration, add_columns, migrate
from agent.settings import AgentSettings, CommaSeparated
from agent.storage import describe as describe_database
from agent.toolkit import Tool, ToolContext, tool

__all__ = [
    "Agent",
    "AgentError",
    "AgentEvent",
    "AgentSettings",
    "Answer",
    "ApprovalRequested",
    "ApprovalRule",
    "ApprovalTally",
    "Approve",
    "CommaSeparated",
    "ConfigurationError",
    "Database",
    "Decision",
    "Deny",
    "Edit",
    "Expire",
    "Failed",
    "Finished",
    "InvalidArguments",
    "Migration",
    "Pause",
    "QuestionAsked",
    "ResumeRefused",
    "Resumed",
    "TextDelta",
    "ThreadPaused",
    "Tool",
    "ToolContext",
    "ToolDenied",
    "ToolFinished",
    "ToolStarted",
    "Transaction",
    "add_columns",
    "describe_database",
    "migrate",
    "tool",
]
