"""Countersign's benchmark: what people in Slack feel, for one and for many conversations.

`uv run python -m bench` (or `--quick`) starts the Slack emulator with Slack's rate limits, the
OpenAI-compatible mock model, and the bot in its own process as in production, then drives signed
events and clicks over loopback and prints a table (JSON in bench/results/latest.json).

`--database postgres --replicas 2` runs the bot as two replicas on one PostgreSQL database
(the bench starts its own server, as the tests do), with Slack's requests handed to each in
turn; CPU and memory are then summed over the replicas, Slack's calls are counted for all of
them against Slack's per-workspace and per-channel limits, and the ramp runs with one replica
and with two, to compare what each holds on the same machine.

Modules, one job each: config (what to run), database (SQLite file or a PostgreSQL server),
launch (one bot process), replicas (several, read as one bot), world (Slack, model and bot
wired together), procstats (/proc readings), model (the mock model's script), workspace
(channels), conversations (one person's conversation), chatter (background events while
answers stream), scenarios (one concurrency level), metrics (raw records → figures),
answer_timeline (what a thread's answer showed, moment by moment: posts, edits, streams),
targets (the issue's targets for first words and completion, PASS / MISS),
slack_rates (Slack calls per minute against Slack's limits), ramp (streaming answers in steps
until acks are late), history (database bytes per turn), report (table and JSON), __main__
(the CLI), and chaos (`python -m bench.chaos`: many runs of the kill -9 / SIGTERM test of
tests/chaos.py, also with two replicas).
"""
