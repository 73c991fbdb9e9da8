"""The HTTP/SSE API: the agent for programs, with the same inbox, approvals and audit as Slack.

`python -m bot` serves it under `/api` next to `/slack/events` when API_TOKENS is set (and the
playground always, without tokens). Runs go through the bot's durable inbox like a Slack
message; decisions through the same first-wins claims, who-may-decide checks, policy and
audit as a click; events stream back as Server-Sent Events.
"""
