"""Countersign's agent: a LangGraph run that streams, pauses for people, and resumes exactly once.

This package is the only thing front ends import; it knows nothing about Slack.
"""

from agent.agent import Agent
from agent.approval_votes import ApprovalTally
from agent.builtin_tools import builtin_tools
from agent.database import Database, Transaction
from agent.durations import format_duration
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
    PauseKind,
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
from agent.mcp_tools import open_mcp_tools
from agent.migrations import Migration, add_columns, migrate
from agent.policy import Policy, PolicyVerdict
from agent.settings import AgentSettings, CommaSeparated
from agent.storage import describe as describe_database
from agent.toolkit import Tool, ToolContext, tool, tools_in_module

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
    "PauseKind",
    "Policy",
    "PolicyVerdict",
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
    "builtin_tools",
    "describe_database",
    "format_duration",
    "migrate",
    "open_mcp_tools",
    "tool",
    "tools_in_module",
]
