"""What all of localaws builds on, knowing no AWS service: config, credentials, hooks, patching,
crash-safe files, and the request scope."""
