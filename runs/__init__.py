"""A run on disk: its directory, config.json/metrics.json, checkpoints and exit codes."""
