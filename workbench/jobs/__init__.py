"""Comparisons and sweeps trained in the background for the UIs: the job, its worker, the warm pool, the
board of one server's jobs and the run folder's queue they share with the command line."""
