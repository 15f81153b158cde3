"""The command line's exit statuses, one place for every command (shells and CI scripts read them)."""

EXIT_USAGE = 2  # a bad option or value: the one-line error says which
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C; the run in progress is saved as interrupted
EXIT_TERMINATED = 143  # 128 + SIGTERM: `kill`, a cluster's time limit
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the status a shell shows for `seq 1000000 | head`
