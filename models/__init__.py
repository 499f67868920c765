"""Models by name. Adding one: a BlockModel subclass in its own module, registered here."""

import regularizers
from errors import UserError
from models.cnn import CNN
from models.mlp import MLP

REGISTRY = {"mlp": MLP, "cnn": CNN}


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
