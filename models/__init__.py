"""Models by name. Adding one: a BlockModel subclass in its own module, registered here."""

import itertools
import math

import regularizers
from errors import UserError
from models.cnn import CNN
from models.mlp import MLP

REGISTRY = {"mlp": MLP, "cnn": CNN}
MAX_PARAMETERS = 10**9  # 4 GB of float32 weights, before optimizer slots


def parameter_estimate(cfg, dataset):
    """Weights of the model cfg describes (kernels and biases of its Dense/Conv layers)."""
    shape = dataset.input_shape
    if cfg.model == "cnn":
        h, w, channels = shape if len(shape) == 3 else (*shape, 1)
        total = 0
        for f in cfg.conv_filters:
            total += 9 * channels * f + f
            h, w, channels = -(-h // 2), -(-w // 2), f  # 'same' max-pooling by 2
        widths = [h * w * channels, *cfg.cnn_dense]
    else:
        total, widths = 0, [math.prod(shape), *cfg.hidden]
    widths.append(dataset.num_classes)
    return total + sum((a + 1) * b for a, b in itertools.pairwise(widths))


def num_hidden(cfg):
    """Hidden layers of the model cfg.model describes (what --layers indexes)."""
    if cfg.model == "cnn":
        return len(cfg.conv_filters) + len(cfg.cnn_dense)
    return len(cfg.hidden)


def build(cfg, dataset, *, sync_bn=False, active=None):
    """Builds cfg.model for `dataset` with the layers of the `active` regularizers (default:
    those cfg names), and creates its variables."""
    if cfg.model not in REGISTRY:
        raise UserError(f"unknown --model={cfg.model!r}: use one of {', '.join(REGISTRY)}")
    if cfg.model == "cnn" and dataset.kind != "image":
        raise UserError(
            f"--model=cnn needs image data, but {dataset.name} is tabular; "
            "use --model=mlp or an image dataset (digits, tfds:mnist, ...)"
        )
    n = num_hidden(cfg)
    if active is None:
        active = regularizers.resolve(cfg, n)
    for reg in active:
        if reg.image_only and dataset.kind != "image":
            raise UserError(
                f"--reg={reg.name} transforms images, but {dataset.name} is tabular; use an image "
                "dataset (digits, tfds:mnist, ...) or drop it"
            )
    size = parameter_estimate(cfg, dataset)
    if size > MAX_PARAMETERS:
        raise UserError(
            f"the model would have {size:,} weights ({4 * size / 2**30:.1f} GiB in float32), more "
            f"than {MAX_PARAMETERS:,}; use smaller --hidden / --conv_filters / --cnn_dense"
        )
    inserted = {
        i: [x for reg in active for x in reg.block_layers(i, seed=cfg.seed, sync_bn=sync_bn)]
        for i in range(n)
    }
    common = dict(activation=cfg.activation, last_activation=cfg.last_activation, inserted=inserted)
    if cfg.model == "cnn":
        model = CNN(
            dataset.num_classes, conv_filters=cfg.conv_filters, dense=cfg.cnn_dense, **common
        )
    else:
        model = MLP(dataset.num_classes, hidden=cfg.hidden, **common)
    model(dataset.train.x[:2])  # creates the variables
    return model
