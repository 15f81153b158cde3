"""What the kernel tells a panel: a page that connected (a reload), and whether a page or a cell pressed Run.

A page reloaded without saving (F5) comes back without the cell's outputs, and a cell that still waits
would hold the kernel (status "Unknown", every other cell queued) until the run ends. So a waiting cell
notices the new page (its connection asks for the kernel's info, and ipykernel's shell router sees that
request before the busy cell holds it back) and ends at once with `PageReloaded`, which also cancels the
rest of the old page's Run All; the run goes on in its thread. Running the cell again makes a panel with the
same settings, which takes over the run still training in this kernel: its progress, curves so far and every
epoch after, and its final outputs.
"""

from __future__ import annotations

from IPython import get_ipython


class PageReloaded(RuntimeError):
    """A cell waiting for a panel's run ended because its page was reloaded; the run goes on."""


CLIENTS: list[str] = []  # the client session of each connection that asked for the kernel's info, in order
WATCHING: list[bool] = []  # whether the shell router is watched (set once)


def watch_clients() -> bool:
    """Note every connection to this kernel as it comes, also while a cell waits: a page's connection first asks
    for the kernel's info, and ipykernel 7 routes each shell message on a thread of its own before the busy cell's
    lock holds it back. Elsewhere (another kernel, an older ipykernel) nothing is watched: a reload then frees the
    kernel only when the run ends, as before."""
    if WATCHING:
        return WATCHING[0]
    kernel = getattr(get_ipython(), "kernel", None)
    stream, thread = getattr(kernel, "shell_stream", None), getattr(kernel, "shell_channel_thread", None)
    route = getattr(kernel, "shell_channel_thread_main", None)
    if stream is None or thread is None or route is None or not hasattr(thread, "io_loop"):
        WATCHING.append(False)
        return False

    async def watched(message):
        try:
            _, frames = kernel.session.feed_identities(message, copy=False)
            header = kernel.session.deserialize(frames, content=False, copy=False)["header"]
            if header.get("msg_type") == "kernel_info_request":
                CLIENTS.append(header.get("session", ""))
        except Exception:  # noqa: BLE001 - a message the router will judge itself
            pass
        return await route(message)

    thread.io_loop.add_callback(stream.on_recv, watched, copy=False)
    WATCHING.append(True)
    return True


def new_client(since: int, own: str) -> bool:
    """Whether a connection other than the waiting cell's own page's has asked for the kernel's info since ``since``
    (a reload, or the notebook opened in another tab; a page's own reconnection keeps its session)."""
    return any(session != own for session in CLIENTS[since:])


def clicked_in_page() -> bool:
    """Whether the code running now answers a widget message from a page (a person pressed the button), not a cell."""
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # an ipykernel without channels
        parent = kernel.get_parent()
    return (parent or {}).get("header", {}).get("msg_type") in ("comm_msg", "comm_open")
