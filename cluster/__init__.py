"""Where training runs: devices, tf.distribute strategies, SLURM, preemption signals."""
