"""Every registered regularizer at once, on the MLP and on the CNN, through train.py."""

import pytest

import regularizers
from tests.conftest import read_metrics, read_scalars, run_train

ALL = list(regularizers.REGISTRY)
TABULAR = [n for n in ALL if not regularizers.REGISTRY[n].image_only]
CASES = {  # the MLP on tabular data: every regularizer but those that transform images
    "mlp": [f"--reg={','.join(TABULAR)}", "--hidden=16,8", "--epochs=5"],
    "cnn": [
        f"--reg={','.join(ALL)}",
        "--dataset=digits",
        "--model=cnn",
        "--conv_filters=4,8",
        "--cnn_dense=16",
        "--epochs=3",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(CASES))
def test_all_regularizers_in_one_run(tmp_path, model):
    run_train(
        "--all_layers",
        *CASES[model],
        f"--logdir={tmp_path}",
        "--run_name=all",
        check=0,
    )
    m = read_metrics(tmp_path / "all")
    assert m["status"] == "finished" and m["test_evaluations"] == 1
    assert [r["name"] for r in m["regularizers"]] == (ALL if model == "cnn" else TABULAR)
    penalties = {n for n, cls in regularizers.REGISTRY.items() if cls.has_penalty}
    assert set(m["final"]["penalty"]) == penalties
    assert m["final"]["penalty_total"] == pytest.approx(sum(m["final"]["penalty"].values()))
    hidden = len(m["weights"]) - 1
    placed = {n for n, cls in regularizers.REGISTRY.items() if cls.placed()}
    assert m["regularized_layers"] == {n: list(range(hidden)) for n in placed}
    # Each regularizer's own TensorBoard statistics are there.
    root = set(read_scalars(tmp_path / "all"))
    for name in ("batchnorm", "group_lasso", "max_norm", "ema", "layernorm"):
        assert any(tag.startswith(f"{name}/") for tag in root), name
    train = set(read_scalars(tmp_path / "all" / "train"))
    assert {f"loss/penalty/{n}" for n in penalties} <= train
    assert (tmp_path / "all" / "model" / "model.keras").exists()
