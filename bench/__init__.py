"""Countersign's benchmark: what people in Slack feel, for one and for many conversations.

`uv run python -m bench` (or `--quick`) starts the Slack emulator with Slack's rate limits, the
OpenAI-compatible mock model, and the bot in its own process as in production, then drives signed
events and clicks over loopback and prints a table (JSON in bench/results/latest.json).

Modules, one job each: config (what to run), launch (the bot process), procstats (/proc
readings), model (the mock model's script), workspace (channels), conversations (one person's
conversation), chatter (background events while answers stream), scenarios (one concurrency
level), metrics (raw records → figures), report (table and JSON), __main__ (the CLI), and
chaos (`python -m bench.chaos`: many runs of the kill -9 / SIGTERM test of tests/chaos.py).
"""
