"""A run on disk: its directory, config.json/metrics.json, checkpoints, exit codes, and its
exported model. `from runs import load_run` reads a finished run (runs/loading.py)."""


def __getattr__(name):
    # Lazy: `import runs.rundir` (train.py, sweeps) must not pay for the loader's imports.
    if name in ("load_run", "Run"):
        from runs import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'runs' has no attribute {name!r}")
