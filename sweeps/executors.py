"""Where a sweep's runs execute: local processes in parallel, or one SLURM job array."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from absl import logging

from errors import UserError
from runs import rundir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_local(runs, logs_dir, workers, on_result=None):
    """Runs the runs in `workers` processes (sweeps/worker.py); returns {run name: exit code}.

    Runs are dealt round-robin, so every worker gets a mix of variants. on_result(name, code,
    note) is called as each run ends; a worker that dies reports its remaining runs with code
    None and a note. Re-running the sweep picks them up.
    """
    on_result = on_result or (lambda name, code, note=None: None)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    queues = [runs[i::workers] for i in range(min(workers, len(runs)))]

    def work(index, queue):
        specs = [
            {"name": r.name, "args": list(r.args), "log": os.path.join(logs_dir, f"{r.name}.log")}
            for r in queue
        ]
        spec_path = os.path.join(logs_dir, f".worker{index}.json")
        with open(spec_path, "w") as f:
            json.dump(specs, f)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sweeps.worker", spec_path],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        codes = {}
        start = time.time()
        for line in proc.stdout:
            result = json.loads(line)
            codes[result["name"]] = result["exit"]
            on_result(result["name"], result["exit"])
            logging.info(
                "%s: exit %d (worker %d, %.1f s since the sweep began)",
                result["name"],
                result["exit"],
                index,
                time.time() - start,
            )
        proc.wait()
        os.unlink(spec_path)
        for r in queue:
            if r.name not in codes:
                note = f"its worker process exited with {proc.returncode} before this run ended"
                on_result(r.name, None, note)
        return codes

    with ThreadPoolExecutor(max_workers=len(queues)) as pool:
        results = pool.map(work, range(len(queues)), queues)
    return {name: code for codes in results for name, code in codes.items()}


def check_slurm_args(runs):
    """slurm/array.sbatch splits each line of the variants file on whitespace."""
    for run in runs:
        spaced = [a for a in run.args if len(a.split()) != 1]
        if spaced:
            raise UserError(
                f"--executor=slurm passes flags as whitespace-separated lines; {spaced[0]!r} "
                "contains whitespace: use paths and values without it"
            )


def submit_slurm(runs, out_dir, logs_dir, wait):
    """Submits slurm/array.sbatch with one array task per run; returns the job id."""
    check_slurm_args(runs)
    variants = os.path.join(out_dir, "variants.txt")
    rundir.write_text(variants, "".join(" ".join(run.args) + "\n" for run in runs))
    cmd = [
        "sbatch",
        "--parsable",
        f"--array=0-{len(runs) - 1}",
        f"--output={logs_dir}/slurm-%A_%a.out",
        f"--export=ALL,VARIANTS={variants}",
    ]
    if wait:
        cmd.append("--wait")
    cmd.append(os.path.join(ROOT, "slurm", "array.sbatch"))
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise UserError("--executor=slurm needs sbatch on PATH (run on a SLURM login node)") from e
    job = proc.stdout.strip().split(";")[0]
    if not job:  # --wait returns the job's exit code; a failed array task is not an error here
        raise UserError(f"sbatch failed: {proc.stderr.strip()}")
    return job
