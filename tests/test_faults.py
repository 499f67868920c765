"""Faults: each ends with one line, a documented exit code, and nothing lost.

Corrupt checkpoints, a full disk (a real tmpfs), two processes on one run directory, what a crash
leaves, a kill during a checkpoint write, file modes, and --help. The tmpfs tests need root (they
mount); they skip without it unless REQUIRE_MOUNT=1, which makes them fail instead (CI).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, read_metrics, read_scalars, run_train

# ---- helpers ----------------------------------------------------------------------------------


def _mount_tmpfs(path, size):
    """Mounts a tmpfs of `size` (e.g. '300k') at `path`; skips (or fails with REQUIRE_MOUNT=1)
    where mounting is impossible."""
    why = None
    if os.geteuid() != 0:
        why = "mounting a tmpfs needs root"
    elif shutil.which("mount") is None:
        why = "no mount command"
    else:
        path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            why = f"mount -t tmpfs failed: {proc.stderr.strip()}"
    if why:
        if os.environ.get("REQUIRE_MOUNT") == "1":
            pytest.fail(f"REQUIRE_MOUNT=1 but {why}")
        pytest.skip(why)


def test_tmpfs_tests_skip_without_root_unless_mounting_is_required(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("REQUIRE_MOUNT", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        _mount_tmpfs(tmp_path / "m", "64k")
    monkeypatch.setenv("REQUIRE_MOUNT", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_MOUNT=1 but mounting"):
        _mount_tmpfs(tmp_path / "m", "64k")


def _remount(path, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs directory; unmounted (lazily: a killed writer may still hold
    a file) at teardown."""
    mounted = []

    def mount(size):
        path = tmp_path / f"tmpfs{len(mounted)}"
        _mount_tmpfs(path, size)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _assert_one_line_error(proc, code, *fragments):
    """Exit `code`, no traceback, and the error is the last stderr line: `train.py: error: ...`"""
    err = proc.stderr.strip()
    assert proc.returncode == code, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    last = err.splitlines()[-1]
    assert last.startswith("train.py: error: "), err[-3000:]
    for fragment in fragments:
        assert fragment in last, last
    return last


def _leftovers(run_dir):
    """Temporary files a failed write could leave behind."""
    return sorted(
        str(p.relative_to(run_dir))
        for p in Path(run_dir).rglob("*")
        if p.name.startswith(".tmp-")
        or p.name.endswith("_temp")
        or "tempstate" in p.name
        or p.name.startswith("checkpoint.tmp")
    )


def _ckpt_epochs(run_dir):
    from runs import rundir

    return rundir.checkpoint_epochs(str(run_dir))


class _Cfg:
    """What rundir.prepare() needs of options.Config."""

    def __init__(self, logdir, **values):
        self.logdir = str(logdir)
        self.values = {"logdir": str(logdir), "epochs": 10, "l2": 0.01, **values}

    def trained_identity(self):
        return {k: v for k, v in self.values.items() if k != "logdir"}


@pytest.fixture
def released():
    """Releases whatever run-directory locks a test took in this process."""
    yield
    from runs import lock

    lock.release_all()


# Small, fast runs through train.py: a 64-64 MLP, SGD, no summaries unless a test asks.
SMALL = ["--hidden=64,64", "--log_every=0"]


# ---- 7. --help ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h", "--helpshort", "--helpfull"])
def test_help_flags_exit_0(flag):
    proc = run_train(flag, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--run_name" in proc.stdout and proc.stderr.strip() == ""


def test_help_needs_no_tensorflow_once_cached(tmp_path):
    """The first --help builds the text (importing TensorFlow) and caches it; later ones read it
    back: with an unimportable tensorflow on the path the same help comes, in well under 4 s."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = run_train("--help", env=env, timeout=120)
    assert first.returncode == 0 and "--dropout_rate" in first.stdout
    (cached,) = (tmp_path / "cache" / "regstudy").glob("train.py-help-*.txt")
    assert cached.read_text() == first.stdout
    for name in ("tensorflow", "keras"):
        (tmp_path / "stub" / name).mkdir(parents=True)
        (tmp_path / "stub" / name / "__init__.py").write_text("raise ImportError('imported')\n")
    start = time.time()
    again = run_train("-h", env={**env, "PYTHONPATH": str(tmp_path / "stub")}, timeout=60)
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, "")
    assert time.time() - start < 2.0
    # A cache that cannot be written: help is built each time, still exit 0.
    blocked = tmp_path / "file"
    blocked.write_text("")
    proc = run_train("--help", env={"XDG_CACHE_HOME": str(blocked)}, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, first.stdout, "")


def test_help_cache_key_follows_the_flag_sources(tmp_path, monkeypatch):
    import help_cache

    (tmp_path / "regularizers").mkdir()
    (tmp_path / "options.py").write_text("a = 1\n")
    (tmp_path / "regularizers" / "l1.py").write_text("b = 1\n")
    monkeypatch.setattr(help_cache, "ROOT", str(tmp_path))
    keys = [help_cache._key("train.py")]
    (tmp_path / "regularizers" / "l1.py").write_text("b = 2\n")
    keys.append(help_cache._key("train.py"))
    (tmp_path / "regularizers" / "l9.py").write_text("")
    keys.append(help_cache._key("train.py"))
    assert len(set(keys)) == 3


def test_bad_flag_is_one_line_and_exit_2():
    proc = run_train("--epochs=x", timeout=60)
    _assert_one_line_error(proc, 2, "--epochs")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_train("--no_such_flag", timeout=60)
    _assert_one_line_error(proc, 2, "no_such_flag")
    # A list flag's value as typed, not as absl's parsed list (['0', '-2']).
    proc = run_train("--reg=l1", "--layers=0,-2", timeout=60)
    _assert_one_line_error(proc, 2, "flag --layers=0,-2: --layers must be")


# ---- 6. file modes follow the umask ------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_text_follows_the_umask(tmp_path, umask, mode):
    from runs import rundir

    old = os.umask(umask)
    try:
        rundir.write_json(str(tmp_path / "a.json"), {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


# ---- 3. one process per run directory -----------------------------------------------------------

_HOLDER = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from runs import lock; "
    "lock.acquire(sys.argv[2]); print('locked', flush=True); time.sleep(600)"
)


def _hold_lock(run_dir):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(ROOT), str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked", proc.communicate()[1]
    return proc


def test_lock_names_its_holder_and_dies_with_it(tmp_path, released):
    from errors import RunDirBusy
    from runs import lock

    lock.check_free(str(tmp_path))  # nobody holds it: no error, and no file made
    assert list(tmp_path.iterdir()) == []
    holder = _hold_lock(tmp_path)
    try:
        with pytest.raises(RunDirBusy) as e:
            lock.acquire(str(tmp_path))
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(e.value)
        assert "--run_name" in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):
            lock.check_free(str(tmp_path))  # train.py's early check, before any work
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert (tmp_path / ".lock").exists()  # a SIGKILLed holder leaves its file, not its lock
    lock.acquire(str(tmp_path))
    info = json.loads((tmp_path / ".lock").read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    lock.acquire(str(tmp_path))  # the holder itself may ask again (a sweep worker)
    lock.release(str(tmp_path))
    assert not (tmp_path / ".lock").exists()


def test_prepare_locks_before_it_reads_anything(tmp_path, released):
    """A second process must not even judge the directory: the holder may be rewriting it."""
    from errors import RunDirBusy
    from runs import rundir

    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.json").write_text("{half a file")
    holder = _hold_lock(run)
    try:
        with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):
            rundir.prepare(_Cfg(tmp_path), "r", create=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert (run / "metrics.json").read_text() == "{half a file"  # untouched


# ---- 4. what a crash leaves --------------------------------------------------------------------


def _make_ckpt_files(run, epoch):
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / f"ckpt-{epoch}.index").write_bytes(b"x")
    (run / "checkpoints" / f"ckpt-{epoch}.data-00000-of-00001").write_bytes(b"x")


def test_a_directory_without_a_finished_epoch_is_started_afresh(tmp_path, released):
    from runs import rundir

    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"logdir": str(tmp_path), "epochs": 99}))
    _make_ckpt_files(run, 0)  # epoch 0 is the initial state, not progress
    (run / "events.out.tfevents.1.host.1.v2").write_bytes(b"events")
    (run / ".tmp-model-0123").mkdir()  # an export cut short
    (run / "notes.txt").write_text("mine")
    path, resuming = rundir.prepare(_Cfg(tmp_path), "r", create=True)
    assert path == str(run) and resuming is False
    assert sorted(p.name for p in run.iterdir()) == [".lock", "config.json", "notes.txt"]
    assert json.loads((run / "config.json").read_text())["epochs"] == 10
    rundir.release(path)
    assert not (run / ".lock").exists()

    (run / "config.json").write_text('{"epochs": 1')  # cut short, no checkpoint
    path, resuming = rundir.prepare(_Cfg(tmp_path), "r", create=True)
    assert resuming is False and json.loads((run / "config.json").read_text())["epochs"] == 10


def test_unreadable_run_files_are_one_clear_error(tmp_path, released):
    from errors import UserError
    from runs import rundir

    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text('{"epochs": 1')
    _make_ckpt_files(run, 5)
    with pytest.raises(UserError, match=r"its config.json is unreadable \(not valid JSON") as e:
        rundir.prepare(_Cfg(tmp_path), "r", create=True)
    assert "move the run directory away" in str(e.value)
    assert not (run / ".lock").exists()  # a refusal releases the lock
    (run / "config.json").write_text(json.dumps(_Cfg(tmp_path).values))
    (run / "metrics.json").write_text("")
    with pytest.raises(UserError, match=r"its metrics.json is unreadable"):
        rundir.prepare(_Cfg(tmp_path), "r", create=True)
    (run / "metrics.json").write_text(json.dumps({"status": "preempted"}))
    assert rundir.prepare(_Cfg(tmp_path), "r", create=True) == (str(run), True)
    rundir.release(str(run))
    with pytest.raises(UserError, match=r"other flags \(--epochs: 10 there, 11 now\)"):
        rundir.prepare(_Cfg(tmp_path, epochs=11), "r", create=True)
    (run / "config.json").unlink()
    with pytest.raises(UserError, match="holds checkpoints but no config.json"):
        rundir.prepare(_Cfg(tmp_path), "r", create=True)


# ---- 1 and 5. checkpoints that cannot be restored; a kill during a save ------------------------


def _variables(n=2000):
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64)
    w = tf.Variable(tf.zeros([n]))
    return {"w": w, "epoch": epoch}, epoch, w


def _save_epochs(run, epochs, keep=10):
    from runs.checkpoints import Checkpoints

    items, epoch, w = _variables()
    ckpts = Checkpoints(str(run), items, epoch, keep=keep, is_chief=True)
    for e in epochs:
        epoch.assign(e)
        w.assign(w * 0 + e)
        ckpts.save()


def test_restore_falls_back_past_broken_checkpoints(tmp_path, caplog):
    import numpy as np

    from errors import CheckpointsUnreadable
    from runs.checkpoints import Checkpoints

    run = tmp_path / "r"
    _save_epochs(run, [0, 2, 4, 6, 8])
    ck = run / "checkpoints"
    data = ck / "ckpt-8.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])  # truncated
    (ck / "ckpt-6.index").unlink()  # missing index
    broken = bytearray((ck / "ckpt-4.data-00000-of-00001").read_bytes())
    broken[len(broken) // 2] ^= 0xFF  # a flipped bit: its checksum fails
    (ck / "ckpt-4.data-00000-of-00001").write_bytes(bytes(broken))

    items, epoch, w = _variables()
    w.assign(w * 0 + 7)
    ckpts = Checkpoints(str(run), items, epoch, keep=10, is_chief=True)
    assert ckpts.restore_latest() == 2
    assert np.all(w.numpy() == 2)  # nothing of the broken ones leaked in
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    for name in ("ckpt-8", "ckpt-6", "ckpt-4"):
        assert f"checkpoints/{name} cannot be restored" in warned
    assert "Read less bytes than requested" in warned

    # Training goes on and overwrites the broken ones: a later restore needs no fallback.
    for e in (4, 6, 8):
        epoch.assign(e)
        ckpts.save()
    caplog.clear()
    assert Checkpoints(str(run), *_variables()[:2], keep=10, is_chief=True).restore_latest() == 8
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

    for path in ck.glob("ckpt-*.data-*"):
        path.write_bytes(b"")
    with pytest.raises(CheckpointsUnreadable) as e:
        Checkpoints(str(run), *_variables()[:2], keep=10, is_chief=True).restore_latest()
    message = str(e.value)
    assert f"no checkpoint in {ck} can be restored (the newest, ckpt-8: " in message
    assert f"move the run directory {run} away, or pass another --run_name" in message


def test_a_failed_restore_assigns_nothing(tmp_path):
    """Why a fallback cannot leave a mix of two checkpoints: TF reads all, then assigns."""
    import numpy as np
    import tensorflow as tf

    run = tmp_path / "r"
    _save_epochs(run, [1, 2])
    data = run / "checkpoints" / "ckpt-2.data-00000-of-00001"
    full = data.read_bytes()
    items, epoch, w = _variables()
    checkpoint = tf.train.Checkpoint(**items)
    for cut in (len(full) // 3, len(full) - 8):
        data.write_bytes(full[:cut])
        w.assign(w * 0 + 7)
        epoch.assign(7)
        with pytest.raises(Exception):  # noqa: B017 - IndexError or DataLossError by the cut
            checkpoint.restore(str(run / "checkpoints" / "ckpt-2"))
        assert np.all(w.numpy() == 7) and int(epoch.numpy()) == 7


_SAVER = """
import sys
sys.path.insert(0, sys.argv[1])
import tensorflow as tf
from runs.checkpoints import Checkpoints
epoch = tf.Variable(0, dtype=tf.int64)
w = tf.Variable(tf.zeros([4 * 1024 * 1024]))  # 16 MB: a save takes a while
ckpts = Checkpoints(sys.argv[2], {"w": w, "epoch": epoch}, epoch, keep=2, is_chief=True)
for e in range(1, 100000):
    epoch.assign(e)
    w.assign(w * 0 + e)
    ckpts.save()
"""


def test_sigkill_during_a_save_resumes_from_the_last_complete_checkpoint(tmp_path):
    """A real kill while TF writes a checkpoint (its `ckpt-N_temp` directory exists)."""
    import numpy as np

    from runs.checkpoints import Checkpoints

    run = tmp_path / "r"
    ck = run / "checkpoints"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(ROOT), str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    try:
        deadline = time.time() + 120
        while not (ck / "ckpt-3.index").exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        while not list(ck.glob("ckpt-*_temp")):  # wait until the next save is under way
            assert proc.poll() is None and time.time() < deadline
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    items, epoch, w = _variables(4 * 1024 * 1024)
    ckpts = Checkpoints(str(run), items, epoch, keep=2, is_chief=True)
    assert not list(ck.glob("ckpt-*_temp"))  # the half-written save is gone
    restored = ckpts.restore_latest()
    assert restored >= 3 and np.all(w.numpy() == restored)
    epoch.assign(restored + 1)
    ckpts.save()  # and saving goes on
    assert ckpts.restore_latest() == restored + 1


def test_leftovers_of_a_killed_save_do_not_stop_a_resume(tmp_path):
    """What a kill leaves at each point of a save: the temp directory (SaveV2 running), then
    the final files without the state file's record (merging)."""
    from runs.checkpoints import Checkpoints

    run = tmp_path / "r"
    _save_epochs(run, [2, 4])
    ck = run / "checkpoints"
    (ck / "ckpt-6_temp").mkdir()
    (ck / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001.tempstate123").write_bytes(
        b"\0" * 100
    )
    (ck / "ckpt-6.data-00000-of-00001").write_bytes(b"\0" * 10)  # renamed, index half-written
    (ck / "ckpt-6.index").write_bytes(b"\0")
    (ck / "checkpoint.tmp0123abcd").write_text("model_checkpoint_path")
    items, epoch, _ = _variables()
    ckpts = Checkpoints(str(run), items, epoch, keep=10, is_chief=True)
    assert _leftovers(run) == []
    assert ckpts.restore_latest() == 4


def test_a_torn_event_record_is_cut_on_resume(tmp_path):
    import tensorflow as tf

    from runs import rundir

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("x", float(step), step=step)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(whole[-30:-5])  # the start of a record, as a kill or a full disk leaves it
    with pytest.raises(tf.errors.DataLossError):
        list(tf.compat.v1.train.summary_iterator(str(path)))
    rundir.repair_event_files(str(tmp_path))
    assert path.read_bytes() == whole
    assert [e.step for e in tf.compat.v1.train.summary_iterator(str(path))] == [0, 0, 1, 2]


# ---- 2. a full disk (a real tmpfs) --------------------------------------------------------------


def test_checkpoint_save_on_a_full_disk(tmpfs):
    """Save until the disk is full: one WriteError, nothing half-written, older checkpoints
    intact; after freeing space the last good one restores and saving goes on."""
    import numpy as np

    from errors import WriteError
    from runs.checkpoints import Checkpoints

    disk = tmpfs("300k")
    run = disk / "r"
    items, epoch, w = _variables(10_000)  # 40 kB per checkpoint
    ckpts = Checkpoints(str(run), items, epoch, keep=100, is_chief=True)
    with pytest.raises(WriteError) as e:
        for n in range(1, 100):
            epoch.assign(n)
            w.assign(w * 0 + n)
            ckpts.save()
    assert e.value.disk_full and e.value.exit_code == 74
    good = n - 1
    assert good >= 2, "the tmpfs should hold a few checkpoints"
    assert str(e.value) == (
        f"cannot write the checkpoint of epoch {n} ({run}/checkpoints/ckpt-{n}): no space left "
        f"on device; the last good checkpoint is at epoch {good} (in {run}/checkpoints): free "
        "space and rerun the same command to resume from it"
    )
    assert _leftovers(run) == [] and _ckpt_epochs(run) == list(range(1, n))
    _remount(disk, "2m")
    items, epoch, w = _variables(10_000)
    ckpts = Checkpoints(str(run), items, epoch, keep=100, is_chief=True)
    assert ckpts.restore_latest() == good and np.all(w.numpy() == good)
    epoch.assign(good + 1)
    ckpts.save()


def test_write_text_on_a_full_disk(tmpfs):
    from errors import WriteError
    from runs import rundir

    disk = tmpfs("64k")
    rundir.write_text(str(disk / "small.txt"), "x" * 1000)
    with pytest.raises(WriteError, match=r"cannot write big.txt in .*: no space left on device"):
        rundir.write_text(str(disk / "big.txt"), "x" * 200_000)
    assert sorted(p.name for p in disk.iterdir()) == ["small.txt"]  # no temp file left
    with pytest.raises(WriteError):  # replacing a file: the old one stays whole
        rundir.write_text(str(disk / "small.txt"), "y" * 200_000)
    assert (disk / "small.txt").read_text() == "x" * 1000


# ---- end to end, through train.py --------------------------------------------------------------


def _unfinish(run):
    """Makes a finished run look like one killed after its last checkpoint."""
    (run / "metrics.json").unlink()


@pytest.mark.slow
def test_train_resumes_past_a_truncated_checkpoint_and_says_when_none_restores(logdir):
    args = [*SMALL, "--epochs=8", "--checkpoint_every=2", "--keep_checkpoints=5"]
    args += [f"--logdir={logdir}", "--run_name=r"]
    old = os.umask(0o022)
    try:
        run_train(*args, check=0)
    finally:
        os.umask(old)
    run = logdir / "r"
    for name in ("config.json", "metrics.json"):  # 6. the umask decides, as for any file
        assert (run / name).stat().st_mode & 0o777 == 0o644, name
    _unfinish(run)
    data = run / "checkpoints" / "ckpt-8.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:64])
    temp = run / "checkpoints" / "ckpt-10_temp"  # 5. what a kill during a save leaves
    temp.mkdir()
    (temp / "part-00000-of-00001.data-00000-of-00001.tempstate9").write_bytes(b"\0" * 999)
    proc = run_train(*args, check=0)
    assert not temp.exists()
    assert "checkpoints/ckpt-8 cannot be restored (IndexError: Read less bytes" in proc.stderr
    assert "resuming from the checkpoint at epoch 6" in proc.stderr
    m = read_metrics(run)
    assert m["status"] == "finished" and m["resumed_from_epoch"] == 6

    _unfinish(run)
    for path in (run / "checkpoints").glob("ckpt-*.index"):
        path.unlink()
    proc = run_train(*args)
    _assert_one_line_error(
        proc, 2, "no checkpoint in", "can be restored", "move the run directory", "--run_name"
    )


@pytest.mark.slow
def test_train_on_a_full_disk_exits_74_and_resumes_after_space_is_freed(tmpfs):
    """Disk full while saving a checkpoint, then while writing metrics.json; each time the rerun
    after freeing space resumes from the last good checkpoint and finishes."""
    disk = tmpfs("200k")
    # ~25 kB per checkpoint (a 64-64 MLP and its history): a few fit, the 200 kB do not.
    args = [*SMALL, "--epochs=40", "--checkpoint_every=2", "--keep_checkpoints=100"]
    args += [f"--logdir={disk}", "--run_name=r"]
    run = disk / "r"
    proc = run_train(*args)
    last = _assert_one_line_error(
        proc, 74, "cannot write the checkpoint of epoch", "no space left on device"
    )
    good = _ckpt_epochs(run)[-1]
    assert 0 < good < 40 and f"the last good checkpoint is at epoch {good}" in last
    assert "free space and rerun the same command to resume from it" in last
    assert _leftovers(run) == [] and not (run / "metrics.json").exists()
    _remount(disk, "4m")
    proc = run_train(*args, check=0)
    assert f"resuming from the checkpoint at epoch {good}" in proc.stderr
    m = read_metrics(run)
    assert m["status"] == "finished" and m["resumed_from_epoch"] == good


@pytest.mark.slow
def test_train_with_no_space_for_metrics_json(tmpfs):
    # 1000 epochs: checkpoints, initial kernels and the exported model take ~215 kB, and
    # metrics.json's history (~185 kB) does not fit beside them.
    disk = tmpfs("300k")
    args = [*SMALL, "--epochs=1000", "--checkpoint_every=500", "--keep_checkpoints=1"]
    args += [f"--logdir={disk}", "--run_name=r"]
    run = disk / "r"
    proc = run_train(*args)
    _assert_one_line_error(
        proc,
        74,
        f"cannot write metrics.json in {run}: no space left on device",
        "the last good checkpoint is at epoch 1000",
    )
    assert _leftovers(run) == [] and not (run / "metrics.json").exists()
    _remount(disk, "4m")
    proc = run_train(*args, check=0)
    m = read_metrics(run)
    assert m["status"] == "finished" and m["resumed_from_epoch"] == 1000


@pytest.mark.slow
def test_train_with_no_space_for_tensorboard_events(tmpfs):
    """Event writes happen inside the compiled loop; their flush raises ResourceExhaustedError
    out of it. The same one line, exit 74; the rerun resumes."""
    # ~5.6 kB of events per epoch (histograms every epoch), ~36 kB per checkpoint: the events
    # fill the disk near epoch 44, well after the save at 30 and before the one at 60.
    disk = tmpfs("300k")
    args = ["--hidden=64,64", "--epochs=200", "--checkpoint_every=30", "--keep_checkpoints=1"]
    args += ["--hist_every=1", f"--logdir={disk}", "--run_name=r"]
    run = disk / "r"
    proc = run_train(*args)
    last = _assert_one_line_error(proc, 74, "no space left on device")
    assert "cannot write the TensorBoard events file" in last, last
    good = _ckpt_epochs(run)[-1]
    assert f"the last good checkpoint is at epoch {good}" in last
    _remount(disk, "16m")
    proc = run_train(*args, check=0)
    assert f"resuming from the checkpoint at epoch {good}" in proc.stderr
    assert read_metrics(run)["status"] == "finished"
    # The record the full disk cut short was removed: every event file reads to its end.
    for sub in ("", "train", "val"):
        assert read_scalars(run / sub)


@pytest.mark.slow
def test_a_second_process_on_a_run_directory_is_refused(logdir):
    run_args = [*SMALL, "--epochs=1000", f"--logdir={logdir}", "--run_name=r"]
    args = [*run_args, "--checkpoint_every=10"]
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    run = logdir / "r"
    try:
        deadline = time.time() + 120
        while not (run / "checkpoints" / "ckpt-10.index").exists():
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.time() < deadline, "the first run never saved a checkpoint"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # frozen mid-run, so that it is surely still running
        second = run_train(*args)
        _assert_one_line_error(
            second, 2, f"run directory {run} is in use by another process (pid {first.pid} on "
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert (run / ".lock").exists()  # a SIGKILLed holder leaves its file, not its lock
    # The rerun may checkpoint less often (a flag a resume may change): the rest in one chunk.
    proc = run_train(*run_args, "--checkpoint_every=1000", check=0)
    assert "resuming from the checkpoint at epoch" in proc.stderr
    m = read_metrics(run)
    assert m["status"] == "finished" and m["resumed_from_epoch"] >= 10
    assert not (run / ".lock").exists()
