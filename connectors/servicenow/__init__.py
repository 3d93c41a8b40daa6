"""ServiceNow target: incidents, requests, knowledge drafts (Table API) and resolution metrics."""
