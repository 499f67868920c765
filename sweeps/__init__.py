"""Sweeps over variants and seeds (sweep.py) and their report (report.py)."""
