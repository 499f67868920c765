"""Dropout after a hidden block (Keras `Dropout`): the tutorial's default is after the first."""

import keras

from errors import UserError
from regularizers.base import NOISE, Param, Regularizer, register


@register
class Dropout(Regularizer):
    name = "dropout"
    title = "Dropout"
    params = (
        Param(
            "dropout_rate",
            [0.5],
            "Dropout rate: one value for every Dropout layer, or one per Dropout layer.",
            kind="float_list",
            check=lambda v: bool(v) and all(0 <= r < 1 for r in v),
            message="--dropout_rate values must be numbers in [0, 1)",
        ),
    )
    strength_param = "dropout_rate"

    def check(self, num_hidden):
        n, rates = len(self.layers), self.dropout_rate
        if n and len(rates) not in (1, n):
            raise UserError(
                f"--dropout_rate has {len(rates)} values but Dropout goes after {n} layers "
                f"{list(self.layers)}: give one value or {n}"
            )

    def rate(self, index):
        rates = self.dropout_rate
        return rates[0] if len(rates) == 1 else rates[self.layers.index(index)]

    def block_layers(self, index, *, seed, sync_bn):
        if index not in self.layers or self.rate(index) <= 0:
            return []
        return [
            (NOISE, "dropout", keras.layers.Dropout(self.rate(index), seed=seed + 1000 + index))
        ]
