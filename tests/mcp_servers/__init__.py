"""MCP servers the tests start for real: as subprocesses over stdio, and over streamable HTTP."""
