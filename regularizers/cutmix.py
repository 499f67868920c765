"""CutMix (Yun et al. 2019): paste a box from another training image, mix the labels by area.

For each training batch (x, y), as the paper's reference code (clovaai/CutMix-PyTorch) does:

    λ ~ Beta(α, α),  π = a random permutation of the batch,
    a box of sides ⌊W·√(1−λ)⌋ × ⌊H·√(1−λ)⌋ (halved, ⌊·/2⌋ each side of a uniform integer centre),
    clipped to the image;  x' = x with the box taken from x[π],
    λ' = 1 − box area / (W·H),  y' = λ'·y + (1 − λ')·y[π]

One λ, box and π per batch (per replica slice under several replicas). λ is drawn as mixup's
(XLA-compilable, finite for small α); all draws come from the step's stateless seed, so a run
is reproducible and resumes bitwise. Keras `CutMix` differs in its draws (a λ and box per
image, α itself uniform in [0, factor], the box kept inside the image); given the same box, λ
and π its masks and mixed labels equal ours (tests/test_reg_modern.py). Image data only.
"""

import tensorflow as tf

from regularizers.base import Param, Regularizer, register
from regularizers.beta import beta_sample

SALT = 300  # this regularizer's share of the step seed


def draw(n, h, w, alpha, seed):
    """(λ', box (y1, y2, x1, x2) as int32 scalars, π) for a batch of `n` images of h × w."""
    lam_seed, y_seed, x_seed, perm_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )
    lam = beta_sample(alpha, lam_seed)
    cut = tf.sqrt(1.0 - lam)
    half_h = tf.cast(tf.floor(h * cut), tf.int32) // 2
    half_w = tf.cast(tf.floor(w * cut), tf.int32) // 2
    cy = tf.random.stateless_uniform([], y_seed, minval=0, maxval=h, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], x_seed, minval=0, maxval=w, dtype=tf.int32)
    y1, y2 = tf.clip_by_value(cy - half_h, 0, h), tf.clip_by_value(cy + half_h, 0, h)
    x1, x2 = tf.clip_by_value(cx - half_w, 0, w), tf.clip_by_value(cx + half_w, 0, w)
    area = tf.cast((y2 - y1) * (x2 - x1), tf.float32)
    lam_box = 1.0 - area / float(h * w)
    perm = tf.argsort(tf.random.stateless_uniform([n], perm_seed))
    return lam_box, (y1, y2, x1, x2), perm


def box_mask(h, w, box):
    """[1, h, w, 1] booleans: True inside the box."""
    y1, y2, x1, x2 = box
    rows = tf.range(h)[:, None]
    cols = tf.range(w)[None, :]
    inside = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)
    return inside[None, :, :, None]


def cut_mix(x, y, lam, box, perm):
    """x with the box from x[perm]; y mixed with weight lam."""
    mask = box_mask(int(x.shape[1]), int(x.shape[2]), box)
    mixed_x = tf.where(mask, tf.gather(x, perm), x)
    lt = tf.cast(lam, y.dtype)
    return mixed_x, lt * y + (1.0 - lt) * tf.gather(y, perm)


@register
class CutMix(Regularizer):
    name = "cutmix"
    title = "CutMix"
    default_layers = None
    image_only = True
    params = (
        Param(
            "cutmix_alpha",
            1.0,
            "CutMix α: each batch pastes a box of area 1−λ from a permuted batch, λ ~ Beta(α, α); "
            "labels mix by the box's area.",
            check=lambda v: v > 0,
            message="--cutmix_alpha must be a finite number > 0",
        ),
    )
    strength_param = "cutmix_alpha"

    def transform(self, x, y, seed):
        seed = tf.random.experimental.stateless_fold_in(seed, SALT)
        h, w = int(x.shape[1]), int(x.shape[2])
        lam, box, perm = draw(tf.shape(x)[0], h, w, self.cutmix_alpha, seed)
        return cut_mix(x, y, lam, box, perm)
