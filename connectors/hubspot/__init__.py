"""HubSpot CRM target: call engagements, contact insights, follow-up tasks and deal stages
through the CRM v3 object and v4 association APIs."""
