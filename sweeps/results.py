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
        raise UserError(f"{out_dir} holds no finished runs yet; run sweep.py first")
    info = {v["variant"]: v for v in manifest["variants"]}
    variants = [
        {"config": {}, "grid": {}, **info.get(name, {}), "variant": name, "label": runs[0].label}
        for name, runs in by_variant.items()
    ]
    return variants, by_variant


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


def per_seed(runs, value):
    """{seed: value} over the finished runs where value(metrics) is a finite number."""
    out = {}
    for r in runs:
        if r.finished:
            v = value(r.metrics)
            if _number(v):
                out[r.seed] = float(v)
    return out


def summarize(variants, by_variant, metric):
    """One row per variant: the metric's statistics over seeds and descriptive means."""
    rows = []
    for v in variants:
        runs = by_variant[v["variant"]]
        done = [r for r in runs if r.finished]
        values = per_seed(runs, lambda m: m.get("final", {}).get(metric))
        row = {
            "variant": v["variant"],
            "label": v["label"],
            "runs": len(runs),
            "finished": len(done),
            "not_finished": len(runs) - len(done),
            "metric": metric,
            "values": values,
            **stats.describe(list(values.values())),
            "per_seed": ";".join(f"s{s}={x:.6g}" for s, x in sorted(values.items())),
        }
        for key, name in (("sparsity", "reg_layers_sparsity"), ("l2_norm", "reg_layers_l2_norm")):
            layer = per_seed(runs, lambda m, key=key: layer_stat(m, key))
            d = stats.describe(list(layer.values()))
            row.update({f"{name}_{k}": d[k] for k in ("mean", "ci_low", "ci_high")})
        for key in final_keys(done):
            vals = list(per_seed(runs, lambda m, key=key: m.get("final", {}).get(key)).values())
            row[f"{key}_mean"] = float(np.mean(vals)) if vals else math.nan
        best = list(per_seed(runs, lambda m: m.get("best_epoch")).values())
        row["best_epoch_mean"] = float(np.mean(best)) if best else math.nan
        rows.append(row)
    return rows


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


def compare(rows, baseline, higher):
    """Paired rows against the baseline, Holm-adjusted over the variants compared."""
    base = next(r for r in rows if r["variant"] == baseline)
    out = []
    for r in rows:
        if r["variant"] == baseline:
            continue
        out.append(
            {
                "variant": r["variant"],
                "label": r["label"],
                **stats.paired(r["values"], base["values"], higher),
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
    "best_epoch_mean",
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
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.10g}"
    return value


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


def runs_csv(variants, by_variant, metric):
    """Long format: one row per run, with its status, exit code, metric and final values."""
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
            row["best_epoch"] = r.metrics.get("best_epoch", "")
            row["reg_layers_sparsity"] = layer_stat(r.metrics, "sparsity")
            row["reg_layers_l2_norm"] = layer_stat(r.metrics, "l2_norm")
        rows.append(row)
    columns = ["variant", "label", "seed", "run", "status", "exit_code", metric]
    columns += [k for k in finals if k != metric]
    columns += ["best_epoch", "reg_layers_sparsity", "reg_layers_l2_norm", "error"]
    return _csv(columns, rows)
