"""A sweep's results: per-run values, per-variant statistics, the paired comparison, CSV and MD."""

import csv
import dataclasses
import io
import math
import re

import numpy as np

from errors import UserError
from sweeps import stats, status

LOWER_IS_BETTER = re.compile(r"loss|mse|error|gap|penalty|ece|brier")


@dataclasses.dataclass
class RunResult:
    variant: str
    label: str
    seed: int
    name: str
    outcome: status.Outcome

    @property
    def finished(self):
        return self.outcome.status == "finished"

    @property
    def metrics(self):
        return self.outcome.metrics


def load(out_dir, manifest):
    """(variants, {variant: [RunResult]}): variants in manifest order, as dicts with a label."""
    by_variant = {}
    for entry in manifest["runs"]:
        result = RunResult(
            variant=entry["variant"],
            label=entry.get("label", entry["variant"]),
            seed=entry["seed"],
            name=entry["name"],
            outcome=status.outcome(out_dir, entry["name"]),
        )
        by_variant.setdefault(result.variant, []).append(result)
    if not any(r.finished for runs in by_variant.values() for r in runs):
        raise UserError(no_finished_runs(out_dir, [r for rs in by_variant.values() for r in rs]))
    info = {v["variant"]: v for v in manifest["variants"]}
    variants = [
        {"config": {}, "grid": {}, **info.get(name, {}), "variant": name, "label": runs[0].label}
        for name, runs in by_variant.items()
    ]
    return variants, by_variant


def no_finished_runs(out_dir, runs):
    """Why a sweep has nothing to report, in one line: not run yet, or every run failed."""
    if not runs or all(r.outcome.status == "missing" for r in runs):
        return f"{out_dir} holds no finished runs yet; run sweep.py first"
    counts = {}
    for r in runs:
        counts[r.outcome.status] = counts.get(r.outcome.status, 0) + 1
    first = next((r for r in runs if r.outcome.error), runs[0])
    how = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (
        f"{out_dir}: none of its {len(runs)} runs finished ({how}); the first error, "
        f"{first.outcome.log}: {first.outcome.error or first.outcome.status}"
    )


def higher_is_better(metric, better="auto"):
    if better != "auto":
        return better == "higher"
    return not LOWER_IS_BETTER.search(metric)


def is_fraction(metric):
    """Accuracy-like metrics are shown in percent."""
    return "accuracy" in metric


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def final_keys(runs):
    """The numeric values of the finished runs' metrics.json 'final', sorted."""
    done = [r.metrics.get("final", {}) for r in runs if r.finished]
    return sorted({k for final in done for k, v in final.items() if _number(v)})


def check_metric(by_variant, metric):
    keys = final_keys([r for runs in by_variant.values() for r in runs])
    if metric not in keys:
        raise UserError(
            f"--metric={metric}: the runs' metrics.json 'final' has no such value; "
            f"choose one of {', '.join(keys)}"
        )


def _natural(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _indices(value):
    """Hidden-layer indices in one regularized_layers entry: a list, or a dict keyed by index."""
    if isinstance(value, dict):
        items = list(value)
    elif isinstance(value, list | tuple):
        items = value
    else:
        return set()
    return {int(i) for i in items if re.fullmatch(r"\d+", str(i))}


def regularized_layer_names(metrics):
    """Hidden layers that carry a regularizer (all hidden layers for an unregularized model).

    regularized_layers maps each regularizer to its layers, as a list of indices or a dict
    keyed by index (e.g. Dropout's rates); any of them counts.
    """
    placed = metrics.get("regularized_layers") or {}
    indices = set().union(*[_indices(v) for v in placed.values()]) if placed else set()
    hidden = sorted((n for n in metrics.get("weights", {}) if n != "output"), key=_natural)
    chosen = [hidden[i] for i in sorted(indices) if i < len(hidden)]
    return chosen or hidden


def layer_stat(metrics, key):
    """Mean of a weight statistic (sparsity, l2_norm) over the regularized layers; nan if none."""
    values = [metrics["weights"][n].get(key) for n in regularized_layer_names(metrics)]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def count_examples(by_variant, metric):
    """n when `metric` is an accuracy on a split of n examples in every finished run (metrics.json
    "examples") and each value is a count / n; else None (the values are compared as floats)."""
    split = metric[: -len("_accuracy")] if metric.endswith("_accuracy") else None
    sizes, values = set(), []
    for r in (r for runs in by_variant.values() for r in runs if r.finished):
        v = r.metrics.get("final", {}).get(metric)
        if _number(v):
            sizes.add((r.metrics.get("examples") or {}).get(split))
            values.append(v)
    n = sizes.pop() if len(sizes) == 1 else None
    if not isinstance(n, int) or n < 1 or not values:
        return None
    counts = np.asarray(values) * n
    return n if np.all(np.abs(counts - np.rint(counts)) < COUNT_TOLERANCE) else None


COUNT_TOLERANCE = 1e-3  # float32 hits / n is within n * 6e-8 of the count


def per_seed(runs, value):
    """{seed: value} over the finished runs where value(metrics) is a finite number."""
    out = {}
    for r in runs:
        if r.finished:
            v = value(r.metrics)
            if _number(v):
                out[r.seed] = float(v)
    return out


def metric_values(runs, metric, n=None):
    """{seed: value} of the metric; with n (a count metric), exactly count / n."""
    values = per_seed(runs, lambda m: m.get("final", {}).get(metric))
    return {s: float(np.rint(v * n)) / n for s, v in values.items()} if n else values


def epoch_range(runs, value):
    """{mean, min, max} of an epoch number over the finished runs where it is given."""
    epochs = list(per_seed(runs, value).values())
    if not epochs:
        return {"mean": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": float(np.mean(epochs)), "min": min(epochs), "max": max(epochs)}


def trained_epochs(m):
    """The epoch a run stopped at: early stopping's, else the last it completed."""
    return m.get("stopped_epoch") or m.get("epochs_completed")


def summarize(variants, by_variant, metric, n=None):
    """One row per variant: the metric's statistics over seeds and descriptive means."""
    rows = []
    for v in variants:
        runs = by_variant[v["variant"]]
        done = [r for r in runs if r.finished]
        values = metric_values(runs, metric, n)
        row = {
            "variant": v["variant"],
            "label": v["label"],
            "runs": len(runs),
            "finished": len(done),
            "not_finished": len(runs) - len(done),
            "metric": metric,
            "values": values,
            **stats.describe(list(values.values())),
            "per_seed": ";".join(f"s{s}={x!r}" for s, x in sorted(values.items())),
            "early_stopping": sum("stopped_epoch" in r.metrics for r in done),  # it was on
            "early_stopped": sum(bool(r.metrics.get("stopped_epoch")) for r in done),
            "epochs_planned": max((r.metrics.get("epochs") or 0 for r in done), default=0),
        }
        for key, name in (("sparsity", "reg_layers_sparsity"), ("l2_norm", "reg_layers_l2_norm")):
            layer = per_seed(runs, lambda m, key=key: layer_stat(m, key))
            d = stats.describe(list(layer.values()))
            row.update({f"{name}_{k}": d[k] for k in ("mean", "ci_low", "ci_high")})
        for key in final_keys(done):
            vals = list(per_seed(runs, lambda m, key=key: m.get("final", {}).get(key)).values())
            row[f"{key}_mean"] = float(np.mean(vals)) if vals else math.nan
        for name, value in (
            ("measured_epoch", lambda m: m.get("final", {}).get("epoch")),
            ("best_epoch", lambda m: m.get("best_epoch")),
            ("stopped_epoch", trained_epochs),
        ):
            row.update({f"{name}_{k}": x for k, x in epoch_range(runs, value).items()})
        rows.append(row)
    return rows


def grid_flags(manifest):
    """The flags of the sweep's grids, crossed and bound to a config, in the order given."""
    p = manifest["protocol"]
    bound = [f for grid in (p.get("config_grids") or {}).values() for f in grid]
    return list(dict.fromkeys([*(p.get("grid") or {}), *bound]))


def is_unregularized(config):
    """No regularizer in --reg or any other reg* flag (e.g. --regularizer specs)."""
    return bool(config) and all(
        value in (None, "", "none", [], ["none"])
        for key, value in config.items()
        if key.startswith("reg")
    )


def choose_baseline(variants, requested=""):
    """The named variant; else the first one without regularization; else the first one."""
    names = [v["variant"] for v in variants]
    if requested:
        if requested not in names:
            raise UserError(
                f"--baseline={requested} is not a variant of this sweep; choose one of "
                f"{', '.join(names)}"
            )
        return requested, "given by --baseline"
    for v in variants:
        if is_unregularized(v["config"]):
            return v["variant"], "the first variant without regularization"
    return names[0], (
        "the first variant: every variant has a regularizer (--baseline chooses another)"
    )


def compare(rows, baseline, higher, n=None):
    """Paired rows against the baseline, Holm-adjusted over all the variants compared (one
    family: does any variant differ from the baseline?); n: a count metric's examples."""
    base = next(r for r in rows if r["variant"] == baseline)
    out = []
    for r in rows:
        if r["variant"] == baseline:
            continue
        out.append(
            {
                "variant": r["variant"],
                "label": r["label"],
                **stats.paired(r["values"], base["values"], higher, n),
            }
        )
    adjusted = stats.holm([c["p_value"] for c in out])
    for c, p in zip(out, adjusted, strict=True):
        c["p_holm"] = p
        c["significant"] = bool(p < stats.ALPHA) if not math.isnan(p) else False
    return out


VARIANT_COLUMNS = (
    "variant",
    "label",
    "runs",
    "finished",
    "not_finished",
    "metric",
    "n",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "per_seed",
    "reg_layers_sparsity_mean",
    "reg_layers_l2_norm_mean",
    "early_stopping",
    "early_stopped",
    "epochs_planned",
    "measured_epoch_mean",
    "measured_epoch_min",
    "measured_epoch_max",
    "best_epoch_mean",
    "best_epoch_min",
    "best_epoch_max",
    "stopped_epoch_mean",
    "stopped_epoch_min",
    "stopped_epoch_max",
)
PAIRED_COLUMNS = (
    "baseline",
    "n_pairs",
    "diff_mean",
    "diff_ci_low",
    "diff_ci_high",
    "prob_improvement",
    "p_value",
    "p_holm",
    "significant",
)


def _cell(value):
    """Full precision: repr of a float (it reads back as the same float), '' for nan."""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return "" if value is None else value


def _csv(columns, rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k, "")) for k in columns})
    return buf.getvalue()


def results_csv(rows, paired, baseline):
    """One row per variant: statistics of the metric, its per-seed values, the paired test."""
    by_variant = {c["variant"]: c for c in paired}
    finals = sorted({k for r in rows for k in r if k.endswith("_mean")} - set(VARIANT_COLUMNS))
    merged = [{**r, **by_variant.get(r["variant"], {}), "baseline": baseline} for r in rows]
    return _csv([*VARIANT_COLUMNS, *finals, *PAIRED_COLUMNS], merged)


def runs_csv(variants, by_variant, metric, n=None):
    """Long format: one row per run, with its status, exit code, metric and final values, at
    full precision; for a count metric also its count and examples (n)."""
    all_runs = [r for v in variants for r in by_variant[v["variant"]]]
    finals = final_keys(all_runs)
    rows = []
    for r in all_runs:
        row = {
            "variant": r.variant,
            "label": r.label,
            "seed": r.seed,
            "run": r.name,
            "status": r.outcome.status,
            "exit_code": "" if r.outcome.exit is None else r.outcome.exit,
            "error": r.outcome.error,
        }
        if r.finished:
            row.update({k: v for k, v in r.metrics.get("final", {}).items() if _number(v)})
            if n and _number(r.metrics["final"].get(metric)):
                row[f"{metric}_count"] = int(np.rint(r.metrics["final"][metric] * n))
                row[f"{metric}_examples"] = n
            row["measured_epoch"] = r.metrics["final"].get("epoch", "")
            row["best_epoch"] = r.metrics.get("best_epoch", "")
            row["stopped_epoch"] = r.metrics.get("stopped_epoch", "")
            row["epochs_completed"] = r.metrics.get("epochs_completed", "")
            row["reg_layers_sparsity"] = layer_stat(r.metrics, "sparsity")
            row["reg_layers_l2_norm"] = layer_stat(r.metrics, "l2_norm")
        rows.append(row)
    columns = ["variant", "label", "seed", "run", "status", "exit_code", metric]
    columns += [f"{metric}_count", f"{metric}_examples"] if n else []
    columns += [k for k in finals if k != metric]
    columns += ["measured_epoch", "best_epoch", "stopped_epoch", "epochs_completed"]
    columns += ["reg_layers_sparsity", "reg_layers_l2_norm", "error"]
    return _csv(columns, rows)
