"""L1 on kernels (the tutorial's `kernel_regularizer='l1'`): penalty λ·Σ|w|, a subgradient step."""

from regularizers.base import Regularizer, nonnegative, register
from regularizers.penalties import l1


@register
class L1(Regularizer):
    name = "l1"
    title = "L1"
    params = (nonnegative("l1", 0.01, "L1 strength λ: penalty λ·Σ|w| (Keras's 'l1')."),)
    strength_param = "l1"

    def penalty(self, model, activations):
        return l1(model.hidden_kernels(self.layers), self.l1)
