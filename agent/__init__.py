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
from agent.instrumentation import (
    TURN_OUTCOMES,
    AgentObserver,
    Instrumentation,
    TokenKind,
    TokenSource,
    TurnOutcome,
)
from agent.migrations import Migration, add_columns, migrate
from agent.settings import AgentSettings, CommaSeparated
from agent.storage import describe as describe_database
from agent.toolkit import Tool, ToolContext, tool

__all__ = [
    "TURN_OUTCOMES",
    "Agent",
    "AgentError",
    "AgentEvent",
    "AgentObserver",
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
    "Instrumentation",
    "InvalidArguments",
    "Migration",
    "Pause",
    "QuestionAsked",
    "ResumeRefused",
    "Resumed",
    "TextDelta",
    "ThreadPaused",
    "TokenKind",
    "TokenSource",
    "Tool",
    "ToolContext",
    "ToolDenied",
    "ToolFinished",
    "ToolStarted",
    "Transaction",
    "TurnOutcome",
    "add_columns",
    "describe_database",
    "migrate",
    "tool",
]
