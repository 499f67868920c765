"""The training machinery train.py drives: the compiled loop and the optimizer."""
