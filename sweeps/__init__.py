"""Sweeps over variants and seeds (sweep.py) and their report (report.py)."""

MAX_SEEDS = 1000  # seeds per variant: a typo's cost stays bounded, and so does the bootstrap's
