"""L2 on kernels (the tutorial's `kernel_regularizer='l2'`): penalty λ·Σw², no ½ (as Keras)."""

from regularizers.base import Regularizer, nonnegative, register
from regularizers.penalties import l2


@register
class L2(Regularizer):
    name = "l2"
    title = "L2"
    params = (nonnegative("l2", 0.01, "L2 strength λ: penalty λ·Σw², no ½ (Keras's 'l2')."),)
    strength_param = "l2"

    def penalty(self, model, activations):
        return l2(model.hidden_kernels(self.layers), self.l2)
