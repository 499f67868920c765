"""Batch normalization after a hidden block's activation; the tutorial's default: the second."""

import keras
import tensorflow as tf

from inspection.stats import batchnorm_gap
from regularizers.base import NORMALIZE, Regularizer, register


@register
class BatchNorm(Regularizer):
    name = "batchnorm"
    title = "BatchNorm"
    default_layers = 1

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers:
            return []
        return [(NORMALIZE, "bn", keras.layers.BatchNormalization(synchronized=sync_bn))]

    def layer_stats(self, model, activations):
        """mean_gap/var_gap: BN's moving statistics vs the probe batch's (inference uses the
        moving ones, so a large gap means the evaluated network is not the trained one)."""
        blocks = [model.blocks[i] for i in self.layers]
        names = [b.core.name for b in blocks]
        gaps = [batchnorm_gap(activations[b.core.name], b.bn) for b in blocks]
        if not gaps:
            return []
        stacked = {k: tf.stack([g[k] for g in gaps]) for k in ("mean_gap", "var_gap")}
        return [("batchnorm", stacked, names)]
