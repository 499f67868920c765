"""Sharpness-aware minimization (SAM; Foret et al. 2021), under any optimizer.

Each step computes the gradient g at the weights w (the usual pass), then the gradient at the
nearby worst-case point w + ε of the same batch loss,

    ε = ρ · g / ‖g‖        (‖·‖ over all trainable variables),

and the optimizer (SGD, Adam, ...) applies that second gradient at w. The weights are never
moved: the second pass is the model evaluated with its trainable variables replaced by w + ε in
a Keras StatelessScope (the same batch, the same Dropout masks; BatchNorm's moving statistics
and Dropout's seed advance once per step, as without SAM). The loss at w + ε includes the
penalties of the other regularizers. Under several replicas each computes ε from its own
gradient (the paper's m-sharpness with m = the per-replica batch).

Cost: two forward-backward passes per step, about twice the training time (metrics.json's
`passes_per_step`; docs/regularizers.md has the measured ratio). TensorBoard: `sam/grad_norm`,
the norm of the applied gradient ∇L(w + ε), averaged over the epoch's steps.
"""

import tensorflow as tf

from regularizers.base import Param, Regularizer, register


@register
class SAM(Regularizer):
    name = "sam"
    title = "SAM"
    default_layers = None
    params = (
        Param(
            "sam_rho",
            0.05,
            "SAM radius ρ: each step applies the gradient at w + ρ·g/‖g‖ (two passes a step).",
            check=lambda v: v > 0,
            message="--sam_rho must be a finite number > 0",
        ),
    )
    strength_param = "sam_rho"
    passes_per_step = 2
    step_columns = ("sam/grad_norm",)

    def gradients(self, grads, variables, loss_at):
        norm = tf.linalg.global_norm(grads)
        scale = self.sam_rho / (norm + 1e-12)
        perturbed = [v + tf.cast(scale, g.dtype) * g for v, g in zip(variables, grads, strict=True)]
        with tf.GradientTape() as tape:
            tape.watch(perturbed)
            loss = loss_at(perturbed)
        return tape.gradient(loss, perturbed)

    def step_values(self, grads, unscale):
        return [tf.linalg.global_norm(grads) * unscale]
