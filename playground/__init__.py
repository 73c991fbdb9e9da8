"""The playground: Countersign in a local, Slack-like workspace in the browser, with no Slack app.

`python -m bot` with no Slack settings runs it. The bot is the production bot, unchanged: its
slack_sdk client calls a local Slack Web API server and its `/slack/events` endpoint receives
signed requests, so what works here works in Slack.

Parts: `slack/` plays Slack (the same emulator the tests use), `web/` serves the page and its
JSON and server-sent-event endpoints, `static/` is the page itself (plain HTML, CSS and JS), and
`session.py` starts the three together.
"""
