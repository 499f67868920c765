"""Models by name. Adding one: a BlockModel subclass in its own module, registered here."""

from errors import UserError
from models import placement
from models.cnn import CNN
from models.mlp import MLP

REGISTRY = {"mlp": MLP, "cnn": CNN}


def num_hidden(cfg):
    """Hidden layers of the model cfg.model describes (what --layers indexes)."""
    if cfg.model == "cnn":
        return len(cfg.conv_filters) + len(cfg.cnn_dense)
    return len(cfg.hidden)


def build(cfg, dataset, *, sync_bn=False):
    """Builds cfg.model for `dataset`, with regularizers placed as cfg says, and its variables."""
    if cfg.model not in REGISTRY:
        raise UserError(f"unknown --model={cfg.model!r}: use one of {', '.join(REGISTRY)}")
    if cfg.model == "cnn" and dataset.kind != "image":
        raise UserError(
            f"--model=cnn needs image data, but {dataset.name} is tabular; "
            "use --model=mlp or an image dataset (digits, tfds:mnist, ...)"
        )
    plan = placement.plan(
        cfg.regs,
        num_hidden(cfg),
        all_layers=cfg.all_layers,
        layers=cfg.layers,
        dropout_rate=cfg.dropout_rate,
    )
    if cfg.model == "cnn":
        model = CNN(
            plan,
            dataset.num_classes,
            conv_filters=cfg.conv_filters,
            dense=cfg.cnn_dense,
            activation=cfg.activation,
            last_activation=cfg.last_activation,
            seed=cfg.seed,
            sync_bn=sync_bn,
        )
    else:
        model = MLP(
            plan,
            dataset.num_classes,
            hidden=cfg.hidden,
            activation=cfg.activation,
            last_activation=cfg.last_activation,
            seed=cfg.seed,
            sync_bn=sync_bn,
        )
    model(dataset.train.x[:2])  # creates the variables
    return model
