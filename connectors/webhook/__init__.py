"""Generic webhook target: signed (Standard Webhooks) JSON POSTs of call events."""
