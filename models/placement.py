"""Which hidden layers get which regularizer: the tutorial's defaults, --all_layers, --layers."""

import dataclasses

from errors import UserError

# Where the tutorial puts a single regularizer: L1/L2 on the first Dense layer, Dropout after the
# first hidden layer, BatchNorm after the second.
TUTORIAL_DEFAULT = {"l1": 0, "l2": 0, "dropout": 0, "batchnorm": 1}


@dataclasses.dataclass(frozen=True)
class Placement:
    """Hidden-layer indices per regularizer; dropout maps each index to its rate."""

    num_hidden: int
    l1: tuple = ()
    l2: tuple = ()
    batchnorm: tuple = ()
    dropout: tuple = ()  # ((index, rate), ...)

    @property
    def dropout_rates(self):
        return dict(self.dropout)

    def as_dict(self):
        return {
            "l1": list(self.l1),
            "l2": list(self.l2),
            "batchnorm": list(self.batchnorm),
            "dropout": {str(i): r for i, r in self.dropout},
        }


def plan(regs, num_hidden, *, all_layers=False, layers=(), dropout_rate=(0.5,)):
    """Returns the Placement for `regs` over `num_hidden` hidden layers."""
    bad = [i for i in layers if not 0 <= i < num_hidden]
    if bad:
        raise UserError(
            f"--layers index {bad[0]} is out of range: the model has {num_hidden} "
            f"hidden layers (indices 0..{num_hidden - 1})"
        )
    chosen = {}
    for reg in regs:
        if all_layers:
            idx = tuple(range(num_hidden))
        elif layers:
            idx = tuple(sorted(set(layers)))
        else:
            idx = (min(TUTORIAL_DEFAULT[reg], num_hidden - 1),) if num_hidden else ()
        chosen[reg] = idx
    drop_idx = chosen.get("dropout", ())
    rates = list(dropout_rate)
    if drop_idx:
        if len(rates) == 1:
            rates = rates * len(drop_idx)
        elif len(rates) != len(drop_idx):
            raise UserError(
                f"--dropout_rate has {len(rates)} values but Dropout goes after "
                f"{len(drop_idx)} layers {list(drop_idx)}: give one value or "
                f"{len(drop_idx)}"
            )
    return Placement(
        num_hidden=num_hidden,
        l1=chosen.get("l1", ()),
        l2=chosen.get("l2", ()),
        batchnorm=chosen.get("batchnorm", ()),
        dropout=tuple(zip(drop_idx, rates, strict=True)) if drop_idx else (),
    )
