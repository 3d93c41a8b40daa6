"""Microsoft Teams target: call summaries and alerts as Adaptive Cards."""
