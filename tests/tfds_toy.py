"""Small tensorflow-datasets builders made in the tests (no download): tabular and image."""

import numpy as np
import tensorflow_datasets as tfds


class ToyBlobs(tfds.core.GeneratorBasedBuilder):
    """Three Gaussian blobs in 5-D; only a train split (train.py holds out a fraction)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "features": tfds.features.Tensor(shape=(5,), dtype=np.float32),
                    "label": tfds.features.ClassLabel(names=["a", "b", "c"]),
                }
            ),
            supervised_keys=("features", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(300)}

    def _generate_examples(self, n):
        rng = np.random.default_rng(0)
        for i in range(n):
            label = i % 3
            x = rng.normal(size=5).astype(np.float32) + 3.0 * label
            yield i, {"features": x, "label": label}


class ToyImages(tfds.core.GeneratorBasedBuilder):
    """12x12 grayscale images: a bright bar in one of four places; train and test splits."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(12, 12, 1)),
                    "label": tfds.features.ClassLabel(num_classes=4),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(200, 0), "test": self._generate_examples(80, 1)}

    def _generate_examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            label = i % 4
            img = rng.integers(0, 60, size=(12, 12, 1)).astype(np.uint8)
            img[label * 3 : label * 3 + 3, :, 0] = 250
            yield i, {"image": img, "label": label}
