"""The sweep's speed-ups: run dispatch with variant affinity, worker thread shares, writers
reopened for the next run, and which flags a reused compiled loop may differ in.

That a reused loop gives a standalone run's numbers bitwise is tested end to end in
tests/test_sweep.py (test_runs_sharing_a_workers_compiled_loop_equal_standalone_runs).
"""

import threading

from sweeps.executors import Dispatcher, worker_env
from sweeps.plan import Run, Variant


def _runs(costs, seeds):
    """Runs of variants named v0, v1, ... with the given epochs / batch sizes."""
    runs = []
    for i, (epochs, batch) in enumerate(costs):
        variant = Variant(f"v{i}", f"v{i}", "", (), {}, f"h{i}")
        for seed in range(seeds):
            identity = {"epochs": epochs, "batch_size": batch, "seed": seed}
            runs.append(Run(variant, seed, f"v{i}_s{seed}", (), identity))
    return runs


def _names(runs):
    return [r.name for r in runs]


def test_a_worker_keeps_its_variant_and_workers_start_the_costliest_untouched_ones():
    # v1 and v2 cost 4x v0 per run (batch 32 vs 128): they are started first.
    d = Dispatcher(_runs([(350, 128), (350, 32), (350, 32)], seeds=3))
    a = d.next()
    b = d.next()
    assert (a.name, b.name) == ("v1_s0", "v2_s0")
    a = d.next(a)
    assert a.name == "v1_s1"  # the same variant: its compiled loop is reused
    a = d.next(a)
    assert a.name == "v1_s2"
    a = d.next(a)  # v1 is done: the untouched v0 before joining v2
    assert a.name == "v0_s0"
    b = d.next(b)
    assert b.name == "v2_s1"


def test_a_free_worker_joins_the_variant_with_the_most_work_left():
    d = Dispatcher(_runs([(350, 128), (350, 32)], seeds=4))
    a, b = d.next(), d.next()
    assert (a.name, b.name) == ("v1_s0", "v0_s0")
    for _ in range(3):
        b = d.next(b)  # v0 finished by b
    assert b.name == "v0_s3"
    b = d.next(b)  # nothing untouched: b helps with v1
    assert b.name == "v1_s1"
    assert _names(d.remaining()) == ["v1_s2", "v1_s3"]
    a = d.next(a)
    assert a.name == "v1_s2"


def test_the_last_run_of_a_variant_is_left_to_the_worker_that_traced_it():
    d = Dispatcher(_runs([(350, 32)], seeds=2))
    a = d.next()
    b = d.next()  # one run left: b would trace the variant again for it
    assert a.name == "v0_s0" and b is None
    assert d.next(a).name == "v0_s1"


def test_workers_beyond_what_the_dispatcher_can_keep_busy_are_not_started():
    assert Dispatcher.useful_workers(_runs([(1, 1), (1, 1)], seeds=2)) == 2
    assert Dispatcher.useful_workers(_runs([(1, 1)], seeds=5)) == 4
    assert Dispatcher.useful_workers(_runs([(1, 1)], seeds=1)) == 1


def test_a_stopped_dispatcher_hands_out_nothing_more():
    d = Dispatcher(_runs([(350, 128)], seeds=3))
    a = d.next()
    d.stop()
    assert d.next(a) is None
    assert _names(d.remaining()) == ["v0_s1", "v0_s2"]


def test_every_run_is_handed_out_once_to_concurrent_workers():
    runs = _runs([(100, 128), (50, 32), (10, 64)], seeds=20)
    d = Dispatcher(runs)
    got, lock = [], threading.Lock()

    def worker():
        run = None
        while (run := d.next(run)) is not None:
            with lock:
                got.append(run.name)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(_names(runs))
    assert d.remaining() == [] and d.next() is None


def test_workers_share_the_cores_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    env = worker_env(2, environ={})
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "4"
    assert worker_env(16, environ={})["TF_NUM_INTRAOP_THREADS"] == "1"
    env = worker_env(2, environ={"TF_NUM_INTRAOP_THREADS": "3"})
    assert env["TF_NUM_INTRAOP_THREADS"] == "3" and env["TF_NUM_INTEROP_THREADS"] == "4"


def test_closed_writers_are_reopened_in_the_next_run_directory(tmp_path):
    import tensorflow as tf

    from inspection.summaries import Writers, write_scalars
    from tests.conftest import read_scalars

    first = Writers.create(str(tmp_path / "a"))

    @tf.function
    def log(value, step):  # captures the writers' resources, as the compiled loop does
        write_scalars(first.train, ["x"], tf.reshape(value, [1]), step)

    log(tf.constant(1.0), tf.constant(1, tf.int64))
    first.close()
    second = Writers.create(str(tmp_path / "b"))
    assert second is first  # the same resources, now writing into b
    log(tf.constant(2.0), tf.constant(2, tf.int64))
    second.close()
    assert log.experimental_get_tracing_count() == 1
    assert read_scalars(tmp_path / "a" / "train") == {"x": [(1, 1.0)]}
    assert read_scalars(tmp_path / "b" / "train") == {"x": [(2, 2.0)]}
    assert len(list((tmp_path / "b" / "train").glob("events.out.tfevents.*"))) == 1


def test_a_reused_loop_may_differ_only_in_flags_the_graph_does_not_read():
    import options
    from training import reuse

    cfg = options.RunConfig(dict(seed=0, run_name="a", logdir="x", l2=0.01, epochs=350))
    other_seed = options.RunConfig({**cfg.values, "seed": 7, "run_name": "b", "logdir": "y"})
    other_l2 = options.RunConfig({**cfg.values, "l2": 0.001})
    assert reuse.structure(cfg) == reuse.structure(other_seed)
    assert reuse.structure(cfg) != reuse.structure(other_l2)
