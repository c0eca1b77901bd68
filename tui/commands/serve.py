"""`prefer serve` and `prefer assign`: many annotators at once on one store."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated

import typer

from core.assign import assign as assign_prompts
from core.assign import unassign as unassign_annotator
from core.project import open_project
from core.server import StoreServer
from core.store import open_store
from core.text import counted, printable
from tui.commands.common import (
    JsonOption,
    ProjectOption,
    os_user,
    project_store,
    reports_errors,
    stderr,
    stdout,
)

# One thread per connection share the interpreter: a thread back from DuckDB (the one holding
# the write lock, say) waits up to this long for the GIL while another runs Python (JSON of the
# next call). The default 5 ms costs saves a fifth of their throughput under load, measured in
# tests/benchmarks/bench_saves.py (docs/benchmarks.md).
SWITCH_INTERVAL_S = 0.001


def _stop_on_signal(signum: int, frame: object) -> None:
    # systemd's stop (SIGTERM), or the terminal that ran the server closed (SIGHUP: an SSH link
    # dropped, a tmux server killed): leave the way Ctrl-C does, socket removed, store closed.
    raise KeyboardInterrupt


def _install_stop_handlers() -> None:
    signal.signal(signal.SIGTERM, _stop_on_signal)
    # Started under nohup (SIGHUP ignored), the server is meant to outlive its terminal.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _stop_on_signal)


@reports_errors
def serve(
    project: ProjectOption = None,
    group: Annotated[str | None, typer.Option(help="OS group allowed to connect (default: "
                                              "server.socket_group in prefer.toml).")] = None,
) -> None:
    """Own the project's store and serve it to every prefer command on a Unix socket.

    Run it as the service user that owns prefer.duckdb. It listens on PROJECT/prefer.sock
    (mode 0660); every other prefer command on the project then goes through it. Callers are
    known by their OS user, mapped to a role by [annotators] in prefer.toml. Stop it with
    Ctrl-C or SIGTERM: everything it accepted is already committed. Closing the terminal it runs
    in (SIGHUP) stops it the same way; under `nohup` it keeps running.

    **Examples**

    ```
      prefer serve -p /srv/alignment
      prefer serve -p /srv/alignment --group annotators
    ```
    """
    proj = open_project(project)
    # Failures a client sees only by id are logged here with their details.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s prefer serve: %(message)s")
    store = open_store(proj.database_path)  # makes prefer.duckdb, its WAL and spill files 0600
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    server = StoreServer(proj.root, store)
    try:
        # Before bind: a signal the moment the socket appears still stops the server cleanly.
        _install_stop_handlers()
        server.bind(group or proj.config.server.socket_group)
        stderr.print(printable(f"Serving {proj.root} on {server.socket_path} (Ctrl-C stops)"),
                     markup=False)
        server.serve_forever()
    except KeyboardInterrupt:
        stderr.print("Stopped: everything accepted is committed.")
    finally:
        server.shutdown()
        store.close()


@reports_errors
def assign(
    annotators: Annotated[str | None, typer.Option(help="Comma-separated annotator names.")
                          ] = None,
    project: ProjectOption = None,
    per_item: Annotated[int | None, typer.Option(help="Annotators per item.", min=1)] = None,
    overlap: Annotated[float | None, typer.Option(
        help="Fraction of items every annotator gets (for agreement); the rest go to one.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: annotation.order_seed).")
                    ] = None,
    unassign: Annotated[str | None, typer.Option(help="Free this annotator's items they have "
                                                 "not ranked yet.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Distribute prompts among annotators, with overlap so agreement can be measured.

    Only prompts nobody holds are assigned, so re-running after new prompts arrive assigns just
    those. Loads differ by at most one item; the same call gives the same assignment. Once any
    assignment exists, annotators are served only their assigned items.

    **Examples**

    ```
      prefer assign --annotators alice,bob,carol --per-item 2 -p /srv/alignment
      prefer assign --annotators alice,bob,carol --overlap 0.2
      prefer assign --unassign bob
    ```
    """
    with project_store(project) as (proj, store):
        if unassign:
            freed = unassign_annotator(store, unassign, actor=os_user(),
                                       known_annotators=list(proj.config.annotators))
            stdout.print(f"Freed {freed} open items of {printable(unassign)}; `prefer assign` "
                         "hands them to others.", markup=False)
            return
        if not annotators:
            raise typer.BadParameter("name the annotators: --annotators alice,bob")
        names = [n.strip() for n in annotators.split(",") if n.strip()]
        if per_item is None and overlap is None:
            per_item = 1
        result = assign_prompts(store, names, actor=os_user(), per_item=per_item,
                                overlap=overlap,
                                seed=proj.config.annotation.order_seed if seed is None else seed,
                                known_annotators=list(proj.config.annotators))
    if json_output:
        stdout.print_json(data={"batch_id": result.batch_id, "items": result.items,
                                "assignments": result.assignments,
                                "overlapped_items": result.overlapped_items,
                                "loads": result.loads})
        return
    if not result.assignments:
        stdout.print("Nothing to assign: every prompt ready to annotate is already assigned.")
        return
    stdout.print(f"Assigned {counted(result.items, 'item')} "
                 f"({counted(result.assignments, 'assignment')}, "
                 f"{result.overlapped_items} shared by everyone) in batch {result.batch_id}.")
    stdout.print("Load per annotator: " + " · ".join(f"{printable(k)} {v}" for k, v in
                                                    sorted(result.loads.items())), markup=False)
