"""Zendesk Support connector (tickets via /api/v2)."""
