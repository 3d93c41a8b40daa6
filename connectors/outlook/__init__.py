"""Outlook (Microsoft Graph v1.0) connector: follow-up e-mails and meetings."""
