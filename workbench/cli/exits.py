"""How a command ends: its exit statuses, one place for every command (shells and CI scripts read them), and the
signals that end it with its runs saved."""

import contextlib
import signal
import threading

EXIT_USAGE = 2  # a bad option or value: the one-line error says which
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C; the run in progress is saved as interrupted
EXIT_TERMINATED = 143  # 128 + SIGTERM: `kill`, a cluster's time limit
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the status a shell shows for `seq 1000000 | head`


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a cluster's time limit, a container stopping), handled like Ctrl-C."""


@contextlib.contextmanager
def stops_on_signals():
    """While a command runs, SIGTERM saves the run in progress as interrupted, as Ctrl-C does, and Ctrl-C is heard
    even where the shell that started the command ignored it (a script's background job inherits an ignored
    SIGINT): the teacher's Stop of a job typed in a terminal is a Ctrl-C to its process."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def terminated(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
