"""Salesforce target: calls logged as Tasks (upsert by call id), leads, insights, stages."""
