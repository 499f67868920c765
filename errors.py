"""The one exception type for bad input: train.py reports it as a single line and exits 2."""


class UserError(Exception):
    """Bad input (a flag, a data file, a device, a run directory): say what and how to fix it."""
