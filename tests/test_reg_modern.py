"""Augmentation, cutout, cutmix, SAM, spectral normalization and gradient clipping: each against
Keras (the same layers driven by the same seeds, the same box and λ, fit with the same options)
or a hand computation, and all of them through train.py, resumed bitwise after SIGKILL."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import framework_internals as fi
from regularizers import step_seeds
from regularizers.augment import SALT as AUGMENT_SALT
from regularizers.augment import Augment
from regularizers.cutmix import CutMix, draw
from regularizers.cutout import SALT as CUTOUT_SALT
from regularizers.cutout import Cutout
from regularizers.mixup import mix
from tests.parity import build_run, keras_fit_vs_loop, make_config

RNG = np.random.default_rng(0)
SEED = tf.constant([5, 17], tf.int64)


def _images(n=6, h=8, w=8):
    return tf.constant(RNG.random((n, h, w, 1)), tf.float32)


def _keras_draw(layer, images, base):
    """`layer` called as Keras calls it, its SeedGenerator's state set to `base`."""
    layer.generator.state.assign(tf.cast(base, layer.generator.state.dtype))
    return layer(images, training=True)


# ---- augment and cutout: Keras's own layers, driven by the step's seed ----------------------
def test_augment_equals_the_keras_layers_called_with_the_same_seeds():
    x = _images()
    reg = Augment((), {"augment": ["translate=0.2", "rotate=30", "zoom=0.2", "flip=both"]})
    ours = reg.transform(x, None, SEED)[0].numpy()
    oracle = [
        keras.layers.RandomTranslation(0.2, 0.2, fill_mode="constant", fill_value=0.0),
        keras.layers.RandomRotation(30 / 360, fill_mode="constant", fill_value=0.0),
        keras.layers.RandomZoom((-0.2, 0.2), fill_mode="constant", fill_value=0.0),
        keras.layers.RandomFlip("horizontal_and_vertical"),
    ]
    expected = x
    for i, layer in enumerate(oracle):
        expected = _keras_draw(layer, expected, step_seeds.base_seed(SEED, AUGMENT_SALT + i))
    np.testing.assert_array_equal(ours, expected.numpy())
    assert not np.allclose(ours, x.numpy(), atol=1e-3)  # it did transform
    # Each image its own draw; the step's seed decides, nothing else.
    rotated = Augment((), {"augment": ["rotate=30"]})
    same = tf.concat([x[:1]] * 4, 0)
    out = rotated.transform(same, None, SEED)[0].numpy()
    assert len({out[i].tobytes() for i in range(4)}) == 4
    np.testing.assert_array_equal(out, rotated.transform(same, None, SEED)[0].numpy())
    other = rotated.transform(same, None, tf.constant([5, 18], tf.int64))[0].numpy()
    assert not np.array_equal(out, other)


def test_cutout_is_keras_random_erasing_and_zeroes_a_square_of_the_given_side():
    x = tf.ones([5, 8, 8, 1])
    reg = Cutout((), {"cutout_size": 0.5, "cutout_probability": 1.0})
    ours = reg.transform(x, None, SEED)[0].numpy()
    layer = keras.layers.RandomErasing(
        factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=0.0, value_range=(0, 1)
    )
    expected = _keras_draw(layer, x, step_seeds.base_seed(SEED, CUTOUT_SALT))
    np.testing.assert_array_equal(ours, expected.numpy())
    zeros = (ours == 0).reshape(5, 8, 8)
    assert list(zeros.sum((1, 2))) == [16] * 5  # a 4 x 4 square in every 8 x 8 image
    for z in zeros:
        rows, cols = np.flatnonzero(z.any(1)), np.flatnonzero(z.any(0))
        assert len(rows) == len(cols) == 4 and np.ptp(rows) == np.ptp(cols) == 3
    assert len({z.tobytes() for z in zeros}) > 1  # placed per image
    half = Cutout((), {"cutout_size": 0.5, "cutout_probability": 0.5})
    erased = (half.transform(tf.ones([400, 8, 8, 1]), None, SEED)[0].numpy() == 0).any((1, 2, 3))
    assert 0.4 < erased.mean() < 0.6


# ---- cutmix and mixup against Keras CutMix and MixUp on the same draws ----------------------
@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_cutmix_equals_keras_cutmix_given_the_same_box_lambda_and_permutation(alpha):
    x, y = _images(16, 8, 12), tf.constant(np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 16)])
    reg = CutMix((), {"cutmix_alpha": alpha})
    seeds = [tf.constant([3, s], tf.int64) for s in range(20)]
    for seed in seeds:
        folded = tf.random.experimental.stateless_fold_in(seed, 300)
        lam, box, perm = draw(16, 8, 12, alpha, folded)
        ours_x, ours_y = reg.transform(x, y, seed)
        y1, y2, x1, x2 = (float(v) for v in box)
        layer = keras.layers.CutMix()
        corners = [tf.fill([16], v) for v in (x1, x2, y1, y2)]
        masks, mix_weight = fi.cutmix_box_mask(layer, x.shape, corners)
        np.testing.assert_allclose(mix_weight.numpy(), float(lam), rtol=1e-6)
        t = {"permutation_order": perm, "batch_masks": masks, "mix_weight": mix_weight}
        np.testing.assert_array_equal(ours_x.numpy(), layer.transform_images(x, t).numpy())
        np.testing.assert_allclose(ours_y.numpy(), layer.transform_labels(y, t).numpy(), atol=1e-6)
        # The paper's box: sides 2*floor(side*sqrt(1-λ0)/2) around the centre, clipped.
        assert 0 <= y1 <= y2 <= 8 and 0 <= x1 <= x2 <= 12
        assert float(lam) == pytest.approx(1 - (y2 - y1) * (x2 - x1) / 96, abs=1e-6)


def test_cutmix_box_has_the_papers_sides_around_its_centre():
    """Sides 2·⌊side·√(1−λ0)/2⌋ for the batch's λ0 ~ Beta(α, α) (mixup's draw, tested there),
    cut where the image ends."""
    from regularizers.beta import beta_sample

    h, w = 10, 14
    for s in range(40):
        seed = tf.random.experimental.stateless_fold_in(tf.constant([9, s], tf.int64), 300)
        lam0 = float(beta_sample(0.7, tf.random.experimental.stateless_split(seed, 4)[0]))
        _, box, _ = draw(4, h, w, 0.7, seed)
        y1, y2, x1, x2 = (int(v) for v in box)
        for lo, hi, side in ((y1, y2, h), (x1, x2, w)):
            full = 2 * (int(np.floor(side * np.sqrt(1 - lam0))) // 2)
            assert 0 <= lo <= hi <= side and hi - lo <= full
            if lo > 0 and hi < side:
                assert hi - lo == full


def test_mixup_equals_keras_mixup_given_the_same_lambda_and_permutation():
    """Keras MixUp draws a λ per image and needs image batches; ours one λ per batch (Zhang et
    al.'s reference code) for any input. Given the same λ and π they mix alike."""
    x, y = _images(10), tf.constant(np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 10)])
    lam, perm = tf.constant(0.3), tf.constant(RNG.permutation(10))
    ours_x, ours_y = mix(x, y, lam, perm)
    layer = keras.layers.MixUp()
    t = {"mix_weight": tf.fill([10], lam), "permutation_order": perm}
    np.testing.assert_allclose(ours_x.numpy(), layer.transform_images(x, t).numpy(), atol=1e-7)
    np.testing.assert_allclose(ours_y.numpy(), layer.transform_labels(y, t).numpy(), atol=1e-7)


# ---- SAM: one step against a hand computation ------------------------------------------------
def test_sam_applies_the_gradient_at_the_perturbed_weights():
    rho, lr = 0.5, 0.1
    flags = dict(hidden="16,8", log_every="0", epochs="1", batch_size="4096", learning_rate=str(lr))
    run = build_run(make_config(reg="sam,dropout", sam_rho=str(rho), **flags))
    n = len(run.dataset.train)
    # The loop's row order of epoch 0 (Dropout masks go by position in the batch).
    order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.constant([0, 0], tf.int64)))
    x, y = tf.gather(run.dataset.train.x, order), tf.gather(run.dataset.train.y, order)
    w0 = [v.numpy() for v in run.model.trainable_variables]
    seeds0 = [v.numpy() for v in run.model.non_trainable_variables]
    ce = keras.losses.CategoricalCrossentropy(from_logits=True)

    def grads_at(weights):
        for v, w in zip(run.model.trainable_variables, weights, strict=True):
            v.assign(w)
        for v, s in zip(run.model.non_trainable_variables, seeds0, strict=True):
            v.assign(s)  # the same Dropout masks in both passes
        with tf.GradientTape() as tape:
            loss = ce(y, run.model(x, training=True))
        return [g.numpy() for g in tape.gradient(loss, run.model.trainable_variables)]

    g = grads_at(w0)
    norm = np.sqrt(sum(np.sum(gi.astype(np.float64) ** 2) for gi in g))
    g2 = grads_at([w + rho * gi / norm for w, gi in zip(w0, g, strict=True)])
    for v, w in zip(run.model.trainable_variables, w0, strict=True):
        v.assign(w)
    for v, s in zip(run.model.non_trainable_variables, seeds0, strict=True):
        v.assign(s)
    assert run.train() == -1
    for v, w, gi in zip(run.model.trainable_variables, w0, g2, strict=True):
        np.testing.assert_allclose(v.numpy(), w - lr * gi, rtol=1e-4, atol=1e-6)
    norm2 = np.sqrt(sum(np.sum(gi.astype(np.float64) ** 2) for gi in g2))
    assert run.trainer.epoch_metrics(0)["sam/grad_norm"] == pytest.approx(norm2, rel=1e-5)
    plain = [w - lr * gi for w, gi in zip(w0, g, strict=True)]
    assert not np.allclose(run.model.trainable_variables[0].numpy(), plain[0], atol=1e-6)


def test_sam_with_spectral_norm_by_hand():
    """SAM over spectrally normalized layers, one full-batch SGD step computed by hand: the
    first pass normalizes the kernel (W <- W / sigma, Keras's assign; u0 -> u1) and takes the
    gradient at the normalized W; the second pass evaluates the normalized network at W + eps
    from the same state as the first (power iteration from u0, as Dropout draws the same
    masks), its gradient going through the division by sigma (u and v held, as in Keras's
    power iteration); that gradient is applied at W, and u advances once per step (to u1)."""
    rho, lr = 0.3, 0.2
    flags = dict(hidden="6", log_every="0", epochs="1", batch_size="4096", learning_rate=str(lr))
    run = build_run(make_config(reg="sam,spectral_norm", sam_rho=str(rho), **flags))
    n = len(run.dataset.train)
    order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.constant([0, 0], tf.int64)))
    x = tf.gather(tf.constant(run.dataset.train.x), order)
    y = tf.gather(tf.constant(run.dataset.train.y), order)
    wrapper = run.model.blocks[0].spectral_norm
    k1, b1 = run.model.blocks[0].core.kernel.numpy(), run.model.blocks[0].core.bias.numpy()
    k2, b2 = run.model.out.kernel.numpy(), run.model.out.bias.numpy()
    u0 = wrapper.vector_u.numpy()

    def unit(t):
        return t / tf.norm(t)

    def power(kernel, u):  # one iteration, as --spectral_power_iterations=1
        v = tf.stop_gradient(unit(u @ tf.transpose(kernel)))
        u = tf.stop_gradient(unit(v @ kernel))
        return u, tf.squeeze(v @ kernel @ tf.transpose(u))

    def loss(weights):
        k1_, b1_, k2_, b2_ = weights
        logits = tf.nn.relu(x @ k1_ + b1_) @ k2_ + b2_  # one hidden layer: its activation is relu
        return keras.losses.CategoricalCrossentropy(from_logits=True)(y, logits)

    def grad(fn, weights):
        weights = [tf.constant(w) for w in weights]
        with tf.GradientTape() as tape:
            tape.watch(weights)
            value = fn(weights)
        return tape.gradient(value, weights)

    u1, sigma = power(tf.constant(k1), tf.constant(u0))
    w = [k1 / sigma.numpy(), b1, k2, b2]  # the first pass's normalized kernel
    g = grad(loss, w)
    norm = tf.linalg.global_norm(g)
    perturbed = [wi + rho * gi / norm for wi, gi in zip(w, g, strict=True)]

    def normalized_loss(weights):
        _, s = power(weights[0], tf.constant(u0))
        return loss([weights[0] / s, *weights[1:]])

    g2 = grad(normalized_loss, perturbed)
    assert run.train() == -1
    core, out = run.model.blocks[0].core, run.model.out
    got = [v.numpy() for v in (core.kernel, core.bias, out.kernel, out.bias)]
    for have, wi, gi in zip(got, w, g2, strict=True):
        np.testing.assert_allclose(have, wi - lr * gi.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(wrapper.vector_u.numpy(), u1.numpy(), rtol=1e-5)  # once a step
    # Not the gradient that ignores the division by sigma at W + eps.
    _, s = power(tf.constant(perturbed[0]), tf.constant(u0))
    g_straight = grad(loss, [perturbed[0] / s, *perturbed[1:]])
    assert np.abs(g2[0] - g_straight[0]).max() > 1e-3


# ---- clipnorm and spectral_norm: our loop vs Keras fit ---------------------------------------
def test_clipnorm_matches_keras_fit_with_global_clipnorm_and_counts_clipped_steps():
    c = 0.05
    result = keras_fit_vs_loop(
        {"reg": "clipnorm", "clipnorm": str(c), "learning_rate": "0.1"},
        keras_optimizer=lambda model: keras.optimizers.SGD(0.1, global_clipnorm=c),
        epochs=20,
    )
    assert result.max_rel_diff() < 1e-5, result.rel_diffs()
    h = result.run.trainer.history.numpy()
    cols = result.run.trainer.columns
    norms = h[:, cols.index("clipnorm/grad_norm")]
    clipped = h[:, cols.index("clipnorm/clipped_fraction")]
    np.testing.assert_array_equal(clipped, (norms > c).astype(np.float32))
    assert clipped.sum() >= 1
    # The first step's norm, by hand from the initial weights.
    run = build_run(result.run.cfg, initial=result.initial)
    with tf.GradientTape() as tape:
        logits = run.model(run.dataset.train.x, training=True)
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)(run.dataset.train.y, logits)
    g = tape.gradient(loss, run.model.trainable_variables)
    assert norms[0] == pytest.approx(float(tf.linalg.global_norm(g)), rel=1e-5)


def test_spectral_norm_matches_keras_fit_and_normalizes_the_kernels():
    result = keras_fit_vs_loop(
        {
            "reg": "spectral_norm",
            "all_layers": "true",
            "spectral_power_iterations": "3",
            "learning_rate": "0.05",
        },
        keras_optimizer=lambda model: keras.optimizers.SGD(0.05),
        epochs=20,
    )
    assert result.max_rel_diff() < 1e-5, result.rel_diffs()
    model = result.run.model
    wrappers = [b.spectral_norm for b in model.blocks]
    assert all(isinstance(w, keras.layers.SpectralNormalization) for w in wrappers)
    assert all(w.layer is b.core for w, b in zip(wrappers, model.blocks, strict=True))
    # A training pass assigns W / σ: σ of the kernel the layer then uses is ~1.
    model(result.run.dataset.train.x, training=True)
    for b in model.blocks:
        assert np.linalg.norm(b.core.kernel.numpy(), ord=2) == pytest.approx(1.0, abs=0.05)
    assert np.linalg.norm(model.out.kernel.numpy(), ord=2) > 1.05  # the output layer is not


def test_spectral_norm_model_saves_and_loads(tmp_path):
    import models  # noqa: F401  (registers the model classes)

    run = build_run(make_config(reg="spectral_norm", hidden="16,8", epochs="2", log_every="0"))
    # Placed like L1/L2: the first hidden layer unless --all_layers or --layers say otherwise.
    assert [b.wrap_attr for b in run.model.blocks] == ["spectral_norm", None]
    run.train()
    x = run.dataset.test.x
    path = str(tmp_path / "model.keras")
    run.model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(x).numpy(), run.model(x).numpy())
    assert loaded.blocks[0].spectral_norm.layer is loaded.blocks[0].core
    assert loaded.blocks[1].wrap_attr is None
    assert len(loaded.weights) == len(run.model.weights)
    for a, b in zip(loaded.weights, run.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_image_regularizers_need_image_data():
    import data
    import models
    from errors import UserError

    cfg = make_config(reg="cutmix", epochs="1")
    with pytest.raises(UserError, match="--reg=cutmix transforms images, but iris is tabular"):
        models.build(cfg, data.for_config(cfg))


def test_augment_spec_in_a_regularizer_spec():
    import regularizers

    name, _, values = regularizers.parse_spec("augment,augment=translate=0.1+flip=vertical")
    assert name == "augment" and values == {"augment": ["translate=0.1", "flip=vertical"]}


# ---- through train.py: trains, reports, resumes bitwise after SIGKILL -----------------------
ARGS = [
    "--dataset=digits",
    "--model=cnn",
    "--conv_filters=4,8",
    "--cnn_dense=16",
    "--train_size=120",
    "--batch_size=40",
    "--epochs=60",
    "--checkpoint_every=20",
    "--optimizer=adam",
    "--learning_rate=0.003",
    "--reg=augment,cutout,cutmix,sam,spectral_norm,clipnorm,dropout",
    "--augment=translate=0.1,rotate=10,zoom=0.1,flip",
    "--clipnorm=0.2",
    "--cutout_probability=0.5",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from tests.conftest import read_metrics, run_train

    logdir = tmp_path_factory.mktemp("modern")
    run_train(*ARGS, "--log_every=10", f"--logdir={logdir}", "--run_name=full", check=0)
    return logdir / "full", read_metrics(logdir / "full")


@pytest.mark.slow
def test_modern_regularizers_train_through_train_py(uninterrupted):
    from tests.conftest import read_scalars

    run_dir, m = uninterrupted
    assert m["status"] == "finished"
    h = m["history"]
    assert all(np.isfinite(v) for col in h.values() for v in col)
    assert 0 < np.mean(h["clipnorm/clipped_fraction"]) < 1
    assert min(h["sam/grad_norm"]) > 0
    costs = {r["name"]: r.get("passes_per_step") for r in m["regularizers"]}
    assert costs["sam"] == 2 and costs["clipnorm"] is None
    scalars = read_scalars(run_dir)
    for tag in ("clipnorm/clipped_fraction", "clipnorm/grad_norm", "sam/grad_norm"):
        assert [s for s, _ in scalars[tag]] == [10, 20, 30, 40, 50, 60], tag
        assert scalars[tag][-1][1] == pytest.approx(h[tag][-1], rel=1e-6)
    # Augmented training data: the train loss is above the validation loss's usual relation.
    assert h["train_accuracy"][-1] < 1.0


@pytest.mark.slow
def test_modern_regularizers_resume_bitwise_after_sigkill(logdir, uninterrupted):
    from tests.conftest import kill_after_checkpoint, read_metrics, run_train
    from tests.test_resume import _assert_same_run

    args = [*ARGS, "--log_every=10", f"--logdir={logdir}", "--run_name=killed"]
    kill_after_checkpoint(args, logdir / "killed", 20)
    assert not (logdir / "killed" / "metrics.json").exists()
    again = run_train(*args, check=0)
    assert "resuming from the checkpoint at epoch" in again.stderr
    assert "SAM: 2 forward-backward passes per step" in again.stderr
    m = read_metrics(logdir / "killed")
    assert 20 <= m["resumed_from_epoch"] < 60
    _assert_same_run(m, uninterrupted[1])
