"""Gmail (Gmail API v1) + Google Calendar (v3) connector: follow-up e-mails and meetings."""
