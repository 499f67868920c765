"""A sweep's TensorBoard view: <out>/tensorboard/<variant>/seed<k>, links to the run directories,
and an HParams experiment whose first columns are the flags that vary, then the seed.

    tensorboard --logdir <out>/tensorboard

Runs are then named by variant and seed (the run directories' names carry a hash), TensorBoard's
run filter selects a variant by its name, and HParams compares the variants in one table.
"""

import contextlib
import glob
import os

VIEW = "tensorboard"


def run_path(run):
    """A run's TensorBoard name: '<variant>/seed<k>'."""
    return f"{run.variant.name}/seed{run.seed}"


def columns(variants):
    """HParams columns: (the flags whose value differs between the variants, a flag idle or empty in
    a variant counting as unset there, and the seed; the rest of each variant's
    inspection.summaries.hparam_names)."""
    from inspection.summaries import hparam_names

    order = [n for v in variants for n in hparam_names(v.idle)]
    names = dict.fromkeys(n for v in variants for n in v.identity if n != "seed")

    def shown(v, name):  # a flag's value as HParams show it: none where idle or empty
        value = v.identity.get(name)
        return None if name in v.idle or value in ("", []) else repr(value)

    varying = [n for n in names if len({shown(v, n) for v in variants}) > 1]
    rest = [n for n in dict.fromkeys(order) if n not in varying and n != "seed"]
    return [*varying, "seed"], rest


def write_view(out, variants, runs):
    """Writes (again) <out>/tensorboard: a relative link per run and the HParams experiment."""
    from inspection.summaries import write_experiment

    view = os.path.join(out, VIEW)
    for run in runs:
        link = os.path.join(view, run_path(run))
        target = os.path.relpath(os.path.join(out, "runs", run.name), os.path.dirname(link))
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(link)
        os.symlink(target, link)
    for old in glob.glob(os.path.join(view, "events.out.tfevents.*")):
        os.remove(old)  # one experiment: this sweep's
    first, rest = columns(variants)
    write_experiment(view, first + rest, first)
