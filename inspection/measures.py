"""Generalization measures of a trained network (Jiang et al. 2020), computed once at the end.

Distance from initialization, spectral norms and their product, Bartlett et al.'s spectral
complexity, the path norm, the training margin and a sharpness sigma; docs/measures.md defines
each. Norm-based measures use kernels only (no biases, as the reference implementations), with
a BatchNorm's inference-time scale gamma / sqrt(moving variance + eps) folded into the kernel
that reads its output; a model with LayerNorm gets no norm-based measures (its per-example
normalization is no fixed linear map), only distance from initialization, margin and sharpness.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from inspection import stats

# Sharpness search as the reference implementation (robust-generalization-measures): sigma in
# [0, 2], stop when the accuracy drop is within this tolerance of the target.
SIGMA_RANGE = (0.0, 2.0)
TOLERANCE = 1e-2
CHUNK = 4096  # rows per forward pass


def kernel_arrays(model):
    """{layer name: kernel as float64 NumPy}, hidden then output, as trained (not folded)."""
    return {name: layer.kernel.numpy().astype(np.float64) for name, layer in model.kernel_layers()}


def folded_kernels(model):
    """{layer name: float64 kernel} with each BatchNorm's scale folded into the next kernel's
    inputs, or None when a block normalizes otherwise (LayerNorm): then norms do not describe
    the map."""
    out, scale = {}, None
    layers = [(b.core, b) for b in model.blocks] + [(model.out, None)]
    for core, block in layers:
        k = core.kernel.numpy().astype(np.float64)
        if scale is not None:  # the previous block's BN output is this kernel's input
            rows = k.shape[-2]
            factor = np.tile(scale, rows // scale.shape[0])  # Flatten: channels vary fastest
            k = k * (factor.reshape(rows, 1) if k.ndim == 2 else factor[:, None])
        out[core.name] = k
        scale = None
        for layer in block.normalize if block else ():
            if not isinstance(layer, keras.layers.BatchNormalization):
                return None
            scale = _bn_scale(layer)
    return out


def _bn_scale(bn):
    """gamma / sqrt(moving variance + eps): the per-channel scale of a BatchNorm at inference."""
    var = bn.moving_variance.numpy().astype(np.float64)
    gamma = bn.gamma.numpy().astype(np.float64) if bn.gamma is not None else 1.0
    return gamma / np.sqrt(var + bn.epsilon)


def as_matrix(kernel):
    """A kernel as [inputs, outputs]: a conv kernel [kh, kw, in, out] as [kh*kw*in, out]."""
    return kernel.reshape(-1, kernel.shape[-1])


def spectral_norms(kernels):
    """{name: largest singular value of the kernel as a matrix}, as the square root of the
    largest eigenvalue of its smaller Gram matrix (a full SVD of a 512x256 kernel costs ~10x)."""
    return {n: _largest_singular_value(as_matrix(k)) for n, k in kernels.items()}


def _largest_singular_value(a):
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))


def spectral_complexity(kernels, norms):
    """Bartlett et al. (2017), reference matrices 0: prod ||W||_2 * (sum (||W^T||_{2,1} /
    ||W||_2)^(2/3))^(3/2), with ||W^T||_{2,1} the sum of the output units' weight norms."""
    ratios = [np.linalg.norm(as_matrix(k), axis=0).sum() / norms[n] for n, k in kernels.items()]
    log_prod = sum(math.log(v) for v in norms.values())
    return math.exp(log_prod + 1.5 * math.log(sum(r ** (2 / 3) for r in ratios)))


def path_norm(model, kernels, input_shape):
    """sqrt(sum over input-to-output paths of the product of squared weights): a pass of ones
    through the squared kernels with identity activations, max-pooling as the model pools."""
    if all(k.ndim == 2 for k in kernels.values()):  # Dense only: NumPy, no TF op dispatch
        v = np.ones(kernels[next(iter(kernels))].shape[0])
        for k in kernels.values():
            v = v @ k**2
        return math.sqrt(float(v.sum()))
    v = tf.ones([1, *input_shape], tf.float64)
    blocks = model.blocks
    for i, k in enumerate(kernels.values()):
        if i == getattr(model, "flatten_before", len(blocks)) or (i == len(blocks) and v.ndim > 2):
            v = tf.reshape(v, [1, -1])
        w = tf.constant(k**2)
        if k.ndim == 4:
            v = tf.nn.conv2d(v, w, strides=1, padding="SAME")
        else:
            v = tf.reshape(v, [1, -1]) @ w
        pool = blocks[i].pool if i < len(blocks) else None
        if pool is not None:
            v = tf.nn.max_pool2d(v, pool.pool_size, pool.strides, pool.padding.upper())
    return math.sqrt(float(tf.reduce_sum(v)))


def logits_of(model, x):
    """The model's logits (inference mode) on `x`, float64 NumPy, in chunks."""
    parts = [model(tf.constant(x[i : i + CHUNK]), training=False) for i in range(0, len(x), CHUNK)]
    return np.concatenate([np.asarray(p, np.float64) for p in parts]) if parts else np.zeros([0])


def margins(logits, labels):
    """Per example: the true class's logit minus the largest other logit."""
    rows = np.arange(len(labels))
    true = logits[rows, labels]
    other = logits.copy()
    other[rows, labels] = -np.inf
    return true - other.max(-1)


def margin_percentile(values):
    """The 10th-percentile margin as the reference takes it: the (m // 10)-th smallest."""
    return float(np.sort(values)[max(len(values) // 10, 1) - 1])


def distances(kernels, initial):
    """{name: ||W - W0||_F} and the total ||W - W0||_F over all kernels."""
    per = {n: float(np.linalg.norm(k - initial[n])) for n, k in kernels.items()}
    return per, math.sqrt(sum(d * d for d in per.values()))


def accuracy(forward, x, labels):
    """Accuracy of `forward` (a compiled inference pass) on `x`, in chunks."""
    hits = sum(
        int(np.sum(np.asarray(forward(x[i : i + CHUNK])).argmax(-1) == labels[i : i + CHUNK]))
        for i in range(0, len(x), CHUNK)
    )
    return hits / len(x)


def sharpness_sigma(model, x, labels, *, seed, delta, samples, steps):
    """The largest sigma of Gaussian weight noise N(0, sigma^2) on every trainable weight that
    moves the training accuracy by about `delta` (mean over `samples` draws), by bisection
    over SIGMA_RANGE for `steps` steps (Jiang et al. 2020, "pacbayes.sigma"). The noise comes
    from NumPy's generator seeded with `seed`: the same seed gives the same sigma. The weights
    are restored exactly afterwards."""
    variables = model.trainable_variables
    saved = [v.numpy() for v in variables]
    rng = np.random.default_rng(seed)
    # Compiled once: an eager pass costs several times more than the noise it evaluates.
    forward = tf.function(lambda xb: model(xb, training=False), reduce_retracing=True)
    x = tf.constant(x)
    clean = accuracy(forward, x, labels)
    lower, upper = SIGMA_RANGE
    sigma = (lower + upper) / 2
    try:
        for _ in range(steps):
            sigma = (lower + upper) / 2
            drops = []
            for _ in range(samples):
                for v, w in zip(variables, saved, strict=True):
                    v.assign((w + rng.normal(0.0, sigma, w.shape)).astype(w.dtype))
                drops.append(accuracy(forward, x, labels))
            displacement = abs(float(np.mean(drops)) - clean)
            if abs(displacement - delta) < TOLERANCE:
                break
            if displacement > delta:
                upper = sigma
            else:
                lower = sigma
    finally:
        for v, w in zip(variables, saved, strict=True):
            v.assign(w)
    return sigma


def distance_measures(model, initial):
    """Distance from initialization as graph code, for TensorBoard's histogram cadence: (per
    layer, total), float32, the definitions of `measure`. `initial`: the kernels at
    initialization, in model.kernel_layers() order. The spectral norms are left to the end of the
    run: an eigendecomposition per kernel, even every 50 epochs, costs ~4 % of the tutorial run."""
    kernels = [layer.kernel.value for _, layer in model.kernel_layers()]  # TF ops, not Keras's
    dist = stats.l2_norms([tf.subtract(k, k0) for k, k0 in zip(kernels, initial, strict=True)])
    return dist, tf.sqrt(tf.reduce_sum(dist * dist))  # tf.norm's ops, without its checks


def measure(model, train, initial, cfg, *, sharpness=True):
    """Every measure of `model` on the training split `train` (x, one-hot y), as metrics.json
    stores it. `initial`: {name: kernel} at initialization, or None when not kept."""
    labels = np.asarray(train.y).argmax(-1)
    logits = logits_of(model, train.x)
    m = margins(logits, labels)
    out = {
        "train_accuracy_eval": float(np.mean(logits.argmax(-1) == labels)),
        "margin_p10": margin_percentile(m),
    }
    raw = kernel_arrays(model)
    if initial is not None:
        out["dist_init_layers"], out["dist_init"] = distances(raw, initial)
    kernels = folded_kernels(model)
    if kernels is not None:
        norms = spectral_norms(kernels)
        out["spectral_norms"] = norms
        out["log_prod_spectral"] = sum(math.log(v) for v in norms.values())
        out["prod_spectral"] = _finite_or_none(math.exp(min(out["log_prod_spectral"], 700)))
        out["spectral_complexity"] = _finite_or_none(spectral_complexity(kernels, norms))
        if out["spectral_complexity"]:
            out["margin_normalized"] = out["margin_p10"] / out["spectral_complexity"]
        out["path_norm"] = path_norm(model, kernels, train.x.shape[1:])
    if sharpness and cfg.sharpness_samples > 0:
        out["sharpness_sigma"] = sharpness_sigma(
            model,
            train.x,
            labels,
            seed=cfg.seed,
            delta=cfg.sharpness_delta,
            samples=cfg.sharpness_samples,
            steps=cfg.sharpness_steps,
        )
    return out


def _finite_or_none(v):
    return v if math.isfinite(v) else None
