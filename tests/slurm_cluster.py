"""A real single-node SLURM cluster (munged + slurmctld + slurmd) in a temp dir, for tests.

Bound to 127.0.0.1; the daemons are started here and stopped by PID. Facts that make it work as
root on these machines are in shared/notes/platform-facts.md.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def available():
    return all(shutil.which(b) for b in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root):
        self.root = Path(root)
        self.procs = []
        self.env = None

    def start(self):
        r = self.root
        for sub in ("munge", "state", "spool", "log"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o755)  # munged refuses a socket dir that is not 0755
        key = r / "munge" / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
        socket_path = r / "munge" / "munge.socket"
        self._spawn(
            [
                "munged",
                "-F",
                "--force",
                f"--socket={socket_path}",
                f"--key-file={key}",
                f"--pid-file={r / 'munge' / 'munged.pid'}",
                f"--log-file={r / 'log/munged.log'}",
                f"--seed-file={r / 'munge' / 'munged.seed'}",
            ]
        )
        _wait(lambda: socket_path.exists(), "munged socket")
        conf = r / "slurm.conf"
        cpus = os.cpu_count() or 2
        conf.write_text(f"""\
ClusterName=regtest
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={r / "log/slurmctld.log"}
SlurmdLogFile={r / "log/slurmd.log"}
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={r / "jobcomp.txt"}
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""")
        self.env = {**os.environ, "SLURM_CONF": str(conf)}
        self._spawn(["slurmctld", "-D", "-i"])
        self._spawn(["slurmd", "-D", "-N", "localhost"])
        _wait(
            lambda: (
                "idle"
                in subprocess.run(
                    ["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True
                ).stdout
            ),
            "an idle SLURM node",
            timeout=60,
        )
        return self

    def _spawn(self, cmd):
        log = open(self.root / "log" / f"{Path(cmd[0]).name}.out", "w")  # noqa: SIM115
        env = self.env or os.environ
        self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))

    def sbatch(self, *args, cwd):
        out = subprocess.run(
            ["sbatch", "--parsable", *args],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.strip().split(";")[0]

    def wait_for_jobs(self, timeout=300):
        """Waits until the queue is empty; returns {job id: final state} from the jobcomp log."""
        _wait(lambda: not self._unfinished_jobs(), "jobs to finish", timeout)
        states = {}
        comp = self.root / "jobcomp.txt"
        for line in comp.read_text().splitlines() if comp.exists() else []:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            states[fields.get("JobId")] = fields.get("JobState")
        return states

    def job_states(self, job=None, fields="%T"):
        """squeue's `fields` (default: the state) of the queue's jobs (or of one job), a line
        each, every state included: squeue's default list hides a job between requeue and
        pending (REQUEUED and friends)."""
        return subprocess.run(
            [
                "squeue",
                "-h",
                "--states=all",
                f"--format={fields}",
                *(["--jobs", job] if job else []),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()

    def node_state(self):
        """The one node's state: idle, mixed, allocated, completing, ..."""
        return subprocess.run(
            ["sinfo", "-h", "--format=%T"], env=self.env, capture_output=True, text=True, check=True
        ).stdout.strip()

    def _unfinished_jobs(self):
        return [s for s in self.job_states() if s not in _TERMINAL]

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


_TERMINAL = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "REVOKED",
    "TIMEOUT",
}


def _wait(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.3)
