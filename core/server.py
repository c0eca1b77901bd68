"""The store server: `prefer serve` owns prefer.duckdb and serves the Store on a Unix socket.

DuckDB lets one process open the file read-write and no other process open it at all meanwhile,
so with several annotators one server owns it and everyone else talks to the server.

Protocol: newline-delimited JSON over a Unix domain socket, served by the standard library's
`socketserver` (one thread per connection). We chose the standard library over an RPC framework
because the protocol is small (an operation name and arguments, a result or an error), the
framing is one line each way, and nothing beyond Python has to be installed or kept up to date
on a locked-down server. JSON rather than pickle: callers are other OS users and not trusted.

Identity comes from the operating system, never from the client: the server reads the caller's
uid from the socket (SO_PEERCRED), maps the user name to a role through [annotators] in
prefer.toml (re-read for every connection, so adding an annotator needs no restart), and checks
every call against the Store declaration (core/store/api.py): the role, the scope (an annotator
reaches only their own work and assigned items), the declared argument types, and the actor,
which is always the caller. Resources are bounded before identity is known: a connection may
send a small hello first, then messages up to MAX_MESSAGE_BYTES; connections are capped per user
and in all, and idle ones are closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import logging
import os
import pwd
import secrets
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import load_config
from core.errors import AccessDeniedError, PreferError, ServerUnavailableError
from core.store import codec
from core.store.api import OPERATIONS, NonConforming, Operation, Role, bind_arguments
from core.store.imports import ReaderFailed
from core.store.local import LocalStore
from core.store.remote import SOCKET_FILE, server_answers

log = logging.getLogger("prefer.serve")

# Before identification only the hello may arrive; it is a few hundred bytes.
MAX_HELLO_BYTES = 4 * 1024
# The largest legitimate call is a batch of generation outcomes (at most 64 records of up to a
# few hundred KiB each, see core/generate.py); nothing else comes close.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_USER = 16
HELLO_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 15 * 60.0  # the client reconnects on its next call
LISTEN_BACKLOG = 128
_MAX_CALLS = 1024  # calls served at once (one per connection thread)


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a connection: the OS user, their role, who they annotate as."""

    user: str
    uid: int
    role: str
    annotator: str

    def at_least(self, role: Role | str) -> bool:
        least = role if isinstance(role, Role) else Role[role]
        return Role[self.role] >= least


def peer_uid(connection: socket.socket) -> int:
    """The uid of the process on the other end of a Unix socket (SO_PEERCRED)."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


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


# --- the checks derived from the declaration ---------------------------------------------------

def authorize(store: LocalStore, caller: Caller, method: str, args: list[Any],
              kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments with the actor set, or AccessDeniedError / BadInputError.

    Everything comes from the operation's declaration: least role, argument types, the owner
    who must be the caller, the item that must be assigned to them, the actor.
    """
    op = OPERATIONS.get(method)
    if op is None:
        raise AccessDeniedError(f"no such store operation: {method}")
    if not caller.at_least(op.role):
        raise AccessDeniedError(f"{caller.user} is {caller.role}; '{method}' needs "
                                f"{op.role.name}")
    try:
        bound = bind_arguments(op, args, kwargs)
    except NonConforming as exc:
        raise AccessDeniedError(f"bad arguments: {exc}") from None
    arguments = dict(bound.arguments)
    arguments.pop("self", None)
    if op.actor is not None:  # whatever the caller sent, the event names the caller
        head, _, field = op.actor.partition(".")
        arguments[head] = (dataclasses.replace(arguments[head], **{field: caller.user})
                           if field else caller.user)
    _check_scope(store, caller, op, arguments)
    return arguments


def _check_scope(store: LocalStore, caller: Caller, op: Operation,
                 arguments: dict[str, Any]) -> None:
    if op.owner is not None and not caller.at_least(Role.admin) \
            and op.value_at(arguments, op.owner) != caller.annotator:
        raise AccessDeniedError("annotators reach only their own work")
    if op.item is not None and not caller.at_least(Role.reviewer):
        prompt_id = op.value_at(arguments, op.item)
        if not store.is_assigned(caller.annotator, prompt_id):
            raise AccessDeniedError(f"item {prompt_id} is not assigned to {caller.annotator}")


def error_reply(exc: BaseException, method: str) -> dict[str, Any]:
    """What a client learns of a failure: a kind, a message and a hint, never driver text."""
    if isinstance(exc, ReaderFailed):
        return {"type": "ReaderFailed", "message": str(exc), "line": exc.line}
    if isinstance(exc, PreferError) and type(exc).__name__ != "StoreError":
        return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    error_id = "E" + secrets.token_hex(4)
    log.error("%s: %s failed: %s: %s", error_id, method, type(exc).__name__, exc)
    return {"type": "StoreError",
            "message": f"the server could not complete '{method}' (error {error_id})",
            "hint": f"an admin finds {error_id} with the details in the `prefer serve` log"}


class _Handler(socketserver.StreamRequestHandler):
    server: _SocketServer

    def setup(self) -> None:
        super().setup()
        self.request.settimeout(HELLO_TIMEOUT_S)

    def handle(self) -> None:
        owner = self.server.owner
        # The first message must be the hello, and small, whoever is calling.
        hello = self._read(MAX_HELLO_BYTES)
        if hello is None:
            return
        try:
            caller = owner.identify(self.request)
            message = codec.loads(hello)
            if not isinstance(message, dict) or message.get("method") != "hello":
                raise AccessDeniedError("the first message must be the hello")
            kwargs = message.get("kwargs")
            act_as = kwargs.get("act_as") if isinstance(kwargs, dict) else None
            caller = owner.hello(caller, act_as if isinstance(act_as, str) else None)
        except (PreferError, ValueError, TypeError) as exc:
            self._reply({"error": error_reply(exc if isinstance(exc, PreferError) else
                                              AccessDeniedError("malformed hello"), "hello")})
            return
        self._reply({"result": {"user": caller.user, "role": caller.role,
                                "annotator": caller.annotator}})
        self.request.settimeout(owner.idle_timeout)
        while not owner.stopping.is_set():
            line = self._read(MAX_MESSAGE_BYTES)
            if line is None or owner.stopping.is_set():
                return  # a stopping server answers nothing new; the client retries elsewhere
            if not owner.calls.acquire(timeout=1.0):
                return
            method = "?"
            try:
                message = codec.loads(line)
                if not isinstance(message, dict):
                    raise AccessDeniedError("malformed message")
                method = str(message.get("method"))
                args, kwargs = message.get("args", []), message.get("kwargs", {})
                if not isinstance(args, list) or not isinstance(kwargs, dict) \
                        or not all(isinstance(k, str) for k in kwargs):
                    raise AccessDeniedError("malformed message")
                arguments = authorize(owner.store, caller, method, args, kwargs)
                reply: dict[str, Any] = {"result": getattr(owner.store, method)(**arguments)}
            except ValueError as exc:  # the codec refused the message
                reply = {"error": error_reply(AccessDeniedError(f"malformed message: {exc}"),
                                              method)}
            except Exception as exc:
                reply = {"error": error_reply(exc, method)}
            finally:
                owner.calls.release()
            if not self._reply(reply):
                return

    def _read(self, limit: int) -> bytes | None:
        """One line of at most `limit` bytes; None (after a refusal) when longer or closed."""
        try:
            line = self.rfile.readline(limit + 1)
        except (TimeoutError, OSError):
            return None
        if not line:
            return None
        if len(line) > limit or not line.endswith(b"\n"):
            self._reply({"error": {"type": "AccessDeniedError",
                                   "message": f"message over {limit} bytes: connection closed",
                                   "hint": None}})
            return None
        return line

    def _reply(self, reply: dict[str, Any]) -> bool:
        try:
            self.wfile.write(codec.dumps(reply))
            self.wfile.flush()
            return True
        except (OSError, TypeError) as exc:
            if isinstance(exc, TypeError):
                log.error("cannot encode a reply: %s", exc)
            return False  # the client went away; whatever it asked for is already committed


class _SocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG
    owner: StoreServer

    def process_request(self, request: Any, client_address: Any) -> None:
        # Refused here, before a thread exists: over the caps a connection costs nothing.
        uid = peer_uid_or_none(request)
        if uid is None or not self.owner.admit(uid):
            with contextlib.suppress(OSError):
                request.sendall(codec.dumps({"error": {
                    "type": "ServerUnavailableError",
                    "message": "too many connections to the prefer server", "hint": None}}))
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self._serve_one, args=(request, client_address, uid),
                                  daemon=True)
        thread.start()

    def _serve_one(self, request: Any, client_address: Any, uid: int) -> None:
        try:
            self.process_request_thread(request, client_address)  # handles, then closes
        finally:
            self.owner.release(uid)


def peer_uid_or_none(request: socket.socket) -> int | None:
    try:
        return peer_uid(request)
    except OSError:
        return None


class StoreServer:
    """Serves one project's store on `<project>/prefer.sock`."""

    def __init__(self, project_root: Path, store: LocalStore,
                 socket_path: Path | None = None, *, idle_timeout: float = IDLE_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS,
                 max_per_user: int = MAX_CONNECTIONS_PER_USER) -> None:
        self.project_root = project_root
        self.store = store
        self.socket_path = socket_path or project_root / SOCKET_FILE
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_per_user = max_per_user
        self._server: _SocketServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._open: dict[int, int] = {}  # uid -> open connections
        self._open_lock = threading.Lock()
        # Calls in progress hold a share; shutdown takes them all so the store is closed only
        # after every started call has committed (or failed) and been answered.
        self.calls = threading.BoundedSemaphore(_MAX_CALLS)
        # socketserver's shutdown() waits for a serve_forever loop to end: called when none
        # runs (a SIGTERM between bind and the loop's start) it would wait forever.
        self._loop_lock = threading.Lock()
        self._looping = False

    def admit(self, uid: int) -> bool:
        with self._open_lock:
            if sum(self._open.values()) >= self.max_connections \
                    or self._open.get(uid, 0) >= self.max_per_user:
                return False
            self._open[uid] = self._open.get(uid, 0) + 1
            return True

    def release(self, uid: int) -> None:
        with self._open_lock:
            if self._open.get(uid):
                self._open[uid] -= 1

    def connections(self) -> int:
        with self._open_lock:
            return sum(self._open.values())

    def identify(self, connection: socket.socket) -> Caller:
        uid = peer_uid(connection)
        user = user_name(uid)
        annotators = load_config(self.project_root / "prefer.toml").annotators
        return Caller(user, uid, role_of(user, uid, annotators), user)

    def hello(self, caller: Caller, act_as: str | None) -> Caller:
        if not act_as or act_as == caller.user:
            return caller
        if not caller.at_least(Role.admin):
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
        old_umask = os.umask(0o177)
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
        try:
            with self._loop_lock:
                if self.stopping.is_set():
                    return
                assert self._server is not None
                self._looping = True
            self._server.serve_forever(poll_interval=0.2)
        finally:
            with self._loop_lock:
                self._looping = False

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
        with self._loop_lock:
            looping = self._looping
        if self._server is not None:
            if looping:
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.socket_path.unlink(missing_ok=True)
