"""Explicit weight penalties added to the data loss by the training step."""

from regularizers.penalties import l1, l1_l2, l2, penalty_terms

__all__ = ["l1", "l1_l2", "l2", "penalty_terms"]
