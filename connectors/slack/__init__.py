"""Slack target: call summaries and insights as Block Kit messages, threaded per call."""
