"""The store server: `prefer serve` owns prefer.duckdb and serves the Store interface on a socket.

DuckDB lets one process open the file read-write and no other process open it at all meanwhile,
so with several annotators one server owns it and everyone else talks to the server.

Protocol: newline-delimited JSON over a Unix domain socket, served by the standard library's
`socketserver` (one thread per connection). We chose the standard library over an RPC framework
because the protocol is small (a method name and arguments, a result or an error), the framing
is one line each way, and nothing beyond Python has to be installed or kept up to date on a
locked-down server. JSON rather than pickle: callers are other OS users and are not trusted.

Identity comes from the operating system, never from the client: the server reads the caller's
uid from the socket (SO_PEERCRED), maps the user name to a role through [annotators] in
prefer.toml (re-read for every connection, so adding an annotator needs no restart), and checks
every call against that role. An annotator reaches only their own work.
"""

from __future__ import annotations

import grp
import inspect
import os
import pwd
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import load_config
from core.errors import AccessDeniedError, PreferError, ServerUnavailableError
from core.models import Adjudication, Flag, Judgment
from core.store import LocalStore, codec
from core.store.imports import ReaderFailed

SOCKET_FILE = "prefer.sock"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
RANKS = {"annotator": 1, "reviewer": 2, "admin": 3}
_MAX_CALLS = 1024  # calls served at once (one per connection thread)


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a connection: the OS user, their role, who they annotate as."""

    user: str
    uid: int
    role: str
    annotator: str

    def at_least(self, role: str) -> bool:
        return RANKS[self.role] >= RANKS[role]


def peer_uid(connection: socket.socket) -> int:
    """The uid of the process on the other end of a Unix socket (SO_PEERCRED)."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def role_of(user: str, uid: int, annotators: dict[str, str]) -> str:
    """The role of an OS user: from [annotators]; the server's own user and root are admins."""
    if user in annotators:
        return annotators[user]
    if uid in (0, os.getuid()):
        return "admin"
    raise AccessDeniedError(
        f"user '{user}' is not an annotator of this project",
        hint="an admin adds them to [annotators] in prefer.toml (name = \"annotator\")",
    )


# --- what each role may call ----------------------------------------------------------------

def _own(caller: Caller, annotator: str) -> None:
    if annotator != caller.annotator and not caller.at_least("admin"):
        raise AccessDeniedError("annotators reach only their own work")


def _assigned(store: LocalStore, caller: Caller, prompt_id: str) -> None:
    if not caller.at_least("reviewer") and not store.is_assigned(caller.annotator, prompt_id):
        raise AccessDeniedError(f"item {prompt_id} is not assigned to {caller.annotator}")


def _check_own(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    _own(caller, call["annotator"])


def _check_item(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    _assigned(store, caller, call["prompt_id"])


def _check_save(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    judgment: Judgment = call["judgment"]
    _own(caller, judgment.annotator)
    _assigned(store, caller, judgment.prompt_id)


def _check_flag(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    flag: Flag = call["flag"]
    _own(caller, flag.annotator)
    _assigned(store, caller, flag.prompt_id)


def _check_adjudication(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    adjudication: Adjudication = call["adjudication"]
    _own(caller, adjudication.reviewer)


def _check_resolver(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    _own(caller, call["resolved_by"])


def _anyone(store: LocalStore, caller: Caller, call: dict[str, Any]) -> None:
    return None


Check = Callable[..., None]
# method -> (least role, extra check on the arguments)
PERMISSIONS: dict[str, tuple[str, Check]] = {
    "get_item": ("annotator", _check_item),
    "next_prompt_id": ("annotator", _check_own),
    "progress": ("annotator", _check_own),
    "current_judgment": ("annotator", _check_own),
    "judgments_of": ("annotator", _check_own),
    "save_judgment": ("annotator", _check_save),
    "is_assigned": ("annotator", _check_own),
    "provenance": ("annotator", _anyone),
    "status": ("reviewer", _anyone),
    "agreement_rows": ("reviewer", _anyone),
    "quality_facts": ("reviewer", _anyone),
    "gold_items": ("admin", _anyone),
    "set_gold": ("admin", _anyone),
    "events": ("admin", _anyone),
    "append_event": ("admin", _anyone),
    "audit_head": ("admin", _anyone),
    "verify_audit": ("admin", _anyone),
    "import_file": ("admin", _anyone),
    "import_judgments": ("admin", _anyone),
    "prompts_for_generation": ("admin", _anyone),
    "generation_done_keys": ("admin", _anyone),
    "start_run": ("admin", _anyone),
    "record_generations": ("admin", _anyone),
    "finish_run": ("admin", _anyone),
    "runs": ("admin", _anyone),
    "export_pairs": ("admin", _anyone),
    "build_pairs": ("reviewer", _anyone),  # rebuilds derived rows only; reports need it
    "save_balance_plan": ("admin", _anyone),
    "balance_plan": ("reviewer", _anyone),
    "pair_counts": ("reviewer", _anyone),
    "record_export": ("admin", _anyone),
    "assignable_prompt_ids": ("admin", _anyone),
    "assignment_loads": ("admin", _anyone),
    "add_assignments": ("admin", _anyone),
    "release_open_assignments": ("admin", _anyone),
    # Reviewers read every annotator's judgments of an item and decide; annotators only flag.
    "save_flag": ("annotator", _check_flag),
    "disagreements": ("reviewer", _anyone),
    "item_judgments": ("reviewer", _anyone),
    "current_adjudication": ("reviewer", _anyone),
    "save_adjudication": ("reviewer", _check_adjudication),
    "open_flags": ("reviewer", _anyone),
    "resolve_flag": ("reviewer", _check_resolver),
}


def authorize(store: LocalStore, caller: Caller, method: str, args: list[Any],
              kwargs: dict[str, Any]) -> None:
    """Raise AccessDeniedError unless `caller` may call `method` with these arguments."""
    rule = PERMISSIONS.get(method)
    if rule is None:
        raise AccessDeniedError(f"no such store operation: {method}")
    least, check = rule
    if not caller.at_least(least):
        raise AccessDeniedError(f"{caller.user} is {caller.role}; '{method}' needs {least}")
    try:
        bound = inspect.signature(getattr(LocalStore, method)).bind(None, *args, **kwargs)
    except TypeError as exc:
        raise AccessDeniedError(f"bad arguments for {method}: {exc}") from exc
    check(store, caller, bound.arguments)


def _error_reply(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ReaderFailed):
        return {"type": "ReaderFailed", "message": str(exc), "line": exc.line}
    if isinstance(exc, PreferError):
        return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    return {"type": "StoreError", "message": f"the server failed: {type(exc).__name__}: {exc}"}


class _Handler(socketserver.StreamRequestHandler):
    server: _SocketServer

    def handle(self) -> None:
        owner = self.server.owner
        try:
            caller = owner.identify(self.request)
        except PreferError as exc:
            # Answer the client's first message with the refusal, then hang up.
            self.rfile.readline(MAX_MESSAGE_BYTES)
            self._reply({"error": _error_reply(exc)})
            return
        while not owner.stopping.is_set():
            line = self.rfile.readline(MAX_MESSAGE_BYTES)
            if not line or owner.stopping.is_set():
                return  # a stopping server answers nothing new; the client retries elsewhere
            owner.calls.acquire()
            try:
                message = codec.loads(line)
                method, args, kwargs = message["method"], message["args"], message["kwargs"]
                if method == "hello":
                    caller = owner.hello(caller, kwargs.get("act_as"))
                    result: Any = {"user": caller.user, "role": caller.role,
                                   "annotator": caller.annotator}
                else:
                    authorize(owner.store, caller, method, args, kwargs)
                    if method in ("save_judgment", "save_adjudication", "save_flag",
                                  "resolve_flag"):
                        kwargs["actor"] = caller.user  # the audit trail names the real OS user
                    result = getattr(owner.store, method)(*args, **kwargs)
                reply: dict[str, Any] = {"result": result}
            except Exception as exc:
                if not isinstance(exc, PreferError | ReaderFailed):
                    print(f"prefer serve: {caller.user}: {type(exc).__name__}: {exc}",
                          file=sys.stderr)
                reply = {"error": _error_reply(exc)}
            finally:
                owner.calls.release()
            if not self._reply(reply):
                return

    def _reply(self, reply: dict[str, Any]) -> bool:
        try:
            self.wfile.write(codec.dumps(reply))
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False  # the client went away; whatever it asked for is already committed


class _SocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: StoreServer


class StoreServer:
    """Serves one project's store on `<project>/prefer.sock`."""

    def __init__(self, project_root: Path, store: LocalStore,
                 socket_path: Path | None = None) -> None:
        self.project_root = project_root
        self.store = store
        self.socket_path = socket_path or project_root / SOCKET_FILE
        self._server: _SocketServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        # Calls in progress hold a share; shutdown takes them all so the store is closed only
        # after every started call has committed (or failed) and been answered.
        self.calls = threading.BoundedSemaphore(_MAX_CALLS)

    def identify(self, connection: socket.socket) -> Caller:
        uid = peer_uid(connection)
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        annotators = load_config(self.project_root / "prefer.toml").annotators
        return Caller(user, uid, role_of(user, uid, annotators), user)

    def hello(self, caller: Caller, act_as: str | None) -> Caller:
        if not act_as or act_as == caller.user:
            return caller
        if not caller.at_least("admin"):
            raise AccessDeniedError(f"only an admin may annotate as someone else ({caller.user} "
                                    f"is {caller.role})")
        return Caller(caller.user, caller.uid, caller.role, act_as)

    def bind(self, group: str | None = None) -> None:
        """Create the socket (mode 0660, optionally owned by `group`) and start listening."""
        if self.socket_path.exists():
            if server_answers(self.socket_path):
                raise ServerUnavailableError(
                    f"a prefer server already serves {self.project_root}",
                    hint=f"its socket is {self.socket_path}")
            self.socket_path.unlink()  # left behind by a server that was killed
        old_umask = os.umask(0o117)
        try:
            server = _SocketServer(str(self.socket_path), _Handler)
        finally:
            os.umask(old_umask)
        server.owner = self
        os.chmod(self.socket_path, 0o660)
        if group:
            os.chown(self.socket_path, -1, grp.getgrnam(group).gr_gid)
        self._server = server

    def serve_forever(self) -> None:
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.2)

    def start_in_thread(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="prefer-serve",
                                        daemon=True)
        self._thread.start()

    def shutdown(self, drain_timeout: float = 10.0) -> None:
        """Stop taking calls, let the ones in progress finish, close the socket."""
        self.stopping.set()
        deadline = time.monotonic() + drain_timeout
        taken = 0
        while taken < _MAX_CALLS and self.calls.acquire(timeout=max(deadline - time.monotonic(),
                                                                     0.01)):
            taken += 1
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.socket_path.unlink(missing_ok=True)


def server_answers(socket_path: Path, timeout: float = 2.0) -> bool:
    """Whether a server accepts connections on `socket_path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(socket_path))
        return True
    except OSError:
        return False
    finally:
        probe.close()
