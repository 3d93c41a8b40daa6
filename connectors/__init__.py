"""Target-system connectors.  ``base`` holds the contract; one folder per target."""
