"""A real `sshd` on a loopback port for end-to-end tests of `prefer annotate` over SSH.

`SshServer` (a context manager, root only) creates a throwaway OS user with a key pair and
~/.ssh/authorized_keys, writes its own host key and sshd_config into a private temp dir,
starts `/usr/sbin/sshd -D -e` with a ForceCommand of `prefer annotate -p PROJECT`, and undoes
all of it on exit: the ssh clients it spawned, sshd, every process of the test user, the user
and its home, the ACL entries it added, the temp dir.

`Terminal` runs an ssh client inside a pseudo-terminal of 80x24 made with the standard library,
so the remote side gets a PTY of that size and TERM=xterm-256color. `wait_for` polls the output
(escape sequences stripped) until a text appears; `send` writes keystrokes.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Iterable
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
REPO_ROOT = Path(__file__).resolve().parent.parent
PREFER_BIN = REPO_ROOT / ".venv" / "bin" / "prefer"
TERM = "xterm-256color"
COLUMNS, ROWS = 80, 24
TOOLS = ("ssh", "ssh-keygen", "useradd", "userdel", "runuser")

# CSI (cursor moves, colours, modes), OSC (titles, colour queries), and the two-byte escapes.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]"
                     r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                     r"|\x1b[PX^_][^\x1b]*\x1b\\"
                     r"|\x1b[()*+][0-9A-Za-z]"
                     r"|\x1b[@-Z\\-_=>78]")
# A cursor-position sequence starts a new piece of the screen: keep the pieces apart.
_CURSOR_MOVE = re.compile(r"\x1b\[[0-9;]*[Hf]")


def strip_ansi(raw: str) -> str:
    """`raw` terminal output as plain text; every cursor jump becomes a newline."""
    return _strip_with_offsets(raw)[0]


def _strip_with_offsets(raw: str) -> tuple[str, list[int]]:
    """The plain text of `raw` and, for each of its characters, its index in `raw`."""
    text: list[str] = []
    offsets: list[int] = []
    position = 0
    for match in _ESCAPE.finditer(raw):
        for index in range(position, match.start()):
            text.append(raw[index])
            offsets.append(index)
        if _CURSOR_MOVE.fullmatch(match.group()):
            text.append("\n")
            offsets.append(match.start())
        position = match.end()
    for index in range(position, len(raw)):
        text.append(raw[index])
        offsets.append(index)
    return "".join(text), offsets


def missing_requirements() -> str | None:
    """Why the SSH tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "the SSH tests must run as root (they create an OS user and start sshd)"
    if not SSHD.exists():
        return f"{SSHD} is missing (apt-get install -y openssh-server)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (apt-get install -y openssh-server openssh-client)"
    if not PREFER_BIN.exists():
        return f"{PREFER_BIN} is missing (run `make test` once to build the virtualenv)"
    if _blocked_dirs(_paths_prefer_needs()) and shutil.which("setfacl") is None:
        return ("the prefer virtualenv or its Python sits below a directory other users cannot enter "
                "(e.g. /root); the harness grants the test user search permission with setfacl, "
                "which is missing (apt-get install -y acl)")
    return None


def _paths_prefer_needs() -> list[Path]:
    """What the test user must reach to run .venv/bin/prefer: the script, its interpreter, the
    interpreter's standard library, and the source tree (an editable install)."""
    interpreter = _interpreter()
    real = interpreter.resolve()
    return [PREFER_BIN, interpreter, real, real.parent.parent / "lib", REPO_ROOT]


def _interpreter() -> Path:
    """The Python that .venv/bin/prefer names on its #! line."""
    shebang = PREFER_BIN.read_text(encoding="utf-8").splitlines()[0]
    return Path(shebang.removeprefix("#!").split()[0])


def _blocked_dirs(paths: Iterable[Path]) -> list[Path]:
    """Directories on the way to `paths` that an unrelated user may not enter (no o+x)."""
    blocked: list[Path] = []
    for path in paths:
        chain = [*reversed(Path(os.path.abspath(path)).parents)]
        if path.is_dir():
            chain.append(Path(os.path.abspath(path)))
        for directory in chain:
            if not os.stat(directory).st_mode & stat.S_IXOTH and directory not in blocked:
                blocked.append(directory)
    return blocked


def _run(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({result.returncode}): "
                           f"{result.stdout}{result.stderr}")
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_until(client: subprocess.Popen[bytes], text: str, timeout: float = 20.0) -> str:
    """The output of a client started by `SshServer.popen`, escape sequences stripped, read until
    `text` appears in it or the client exits, whichever comes first (at most `timeout` s)."""
    assert client.stdout is not None
    received = b""
    deadline = time.monotonic() + timeout
    while text not in strip_ansi(received.decode(errors="replace")):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            printed = strip_ansi(received.decode(errors="replace"))
            raise AssertionError(f"{text!r} did not appear and the client did not exit within "
                                 f"{timeout:.0f} s; it printed:\n{printed}")
        ready, _, _ = select.select([client.stdout], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(client.stdout.fileno(), 65536)
            if not chunk:
                client.wait(timeout=remaining)
                break
            received += chunk
    return strip_ansi(received.decode(errors="replace"))


class Terminal:
    """An ssh client in a pseudo-terminal of COLUMNS x ROWS: read its screen, type into it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        try:
            self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                            start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        self.raw = ""  # everything the terminal received, escape sequences included
        self._mark = 0  # index in `raw` where the next wait_for starts looking
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._eof = False

    @property
    def text(self) -> str:
        """Everything received so far, escape sequences stripped."""
        return strip_ansi(self.raw)

    def _read(self, timeout: float) -> bool:
        """Append whatever arrives within `timeout` seconds; False once the client has gone."""
        if self._eof:
            return False
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the slave side has exited
            chunk = b""
        if not chunk:
            self._eof = True
            self.raw += self._decoder.decode(b"", final=True)
            return False
        self.raw += self._decoder.decode(chunk)
        return True

    def wait_for(self, text: str | re.Pattern[str], timeout: float = 20.0) -> str:
        """Poll the output until `text` (or a match of the pattern) appears after the previous
        match; return the plain text from there up to the end of this match. Fails with the
        screen so far after `timeout` seconds or when the client exits without showing it."""
        pattern = text if isinstance(text, re.Pattern) else re.compile(re.escape(text))
        deadline = time.monotonic() + timeout
        while True:
            plain, offsets = _strip_with_offsets(self.raw[self._mark:])
            found = pattern.search(plain)
            if found and found.end() > 0:
                self._mark += offsets[found.end() - 1] + 1
                return plain[:found.end()]
            remaining = deadline - time.monotonic()
            if self._eof or remaining <= 0:
                state = "the ssh client exited" if self._eof else f"nothing after {timeout:.0f} s"
                wanted = text if isinstance(text, str) else text.pattern
                raise AssertionError(f"{wanted!r} did not appear ({state}); the terminal "
                                     f"showed:\n{self.text[-3000:]}")
            self._read(min(remaining, 0.5))

    def send(self, keys: str, pause: float = 0.0) -> None:
        """Type `keys` (\\r is Enter, \\x1b is Escape); with `pause`, one key at a time."""
        if not pause:
            os.write(self.master, keys.encode())
            return
        for key in keys:
            os.write(self.master, key.encode())
            time.sleep(pause)

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Keep reading until the ssh client exits; its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the ssh client did not exit within {timeout:.0f} s; the "
                                     f"terminal showed:\n{self.text[-3000:]}")
            self._read(0.2)
        drain_until = time.monotonic() + 2
        while self._read(0.05) and time.monotonic() < drain_until:  # what is left in the PTY
            pass
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the client only
            self.process.wait(timeout=10)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


class SshServer:
    """sshd on 127.0.0.1:<free port> that lets one throwaway user in, by key, into
    `prefer annotate -p PROJECT` and nothing else. Use as a context manager, as root."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.user = f"prefer_t_{secrets.token_hex(4)}"
        self.uid = -1
        self.port = 0
        self.dir = Path(tempfile.mkdtemp(prefix="prefer-sshd-"))  # root only: 0700
        self.client_key = self.dir / "client_ed25519"
        self.host_key = self.dir / "host_ed25519"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.force_command = f"{PREFER_BIN} annotate -p {self.project_dir}"
        self._sshd: subprocess.Popen[bytes] | None = None
        self._terminals: list[Terminal] = []
        self._clients: list[subprocess.Popen[bytes]] = []
        self._acl_dirs: list[Path] = []
        self._user_created = False

    # --- setting up ------------------------------------------------------------------------

    def __enter__(self) -> SshServer:
        try:
            self._create_user()
            self._share_prefer_and_project()
            self._make_keys()
            self._start_sshd()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _create_user(self) -> None:
        # "*" rather than useradd's default "!": with UsePAM no, sshd refuses a "!" (locked)
        # account even for key authentication; "*" just means no password can match.
        _run("useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", self.user)
        self._user_created = True
        entry = pwd.getpwnam(self.user)
        self.uid = entry.pw_uid
        self.home = Path(entry.pw_dir)

    def _share_prefer_and_project(self) -> None:
        """Let the test user run .venv/bin/prefer and write the project (StrictModes stays on)."""
        for directory in _blocked_dirs([*_paths_prefer_needs(), self.project_dir.parent]):
            _run("setfacl", "-m", f"u:{self.uid}:x", directory)
            self._acl_dirs.append(directory)
        for path in [self.project_dir, *self.project_dir.rglob("*")]:
            os.chown(path, self.uid, -1, follow_symlinks=False)
        # The cheap half of what the ForceCommand does (`prefer --version` takes ~1 s): fail here,
        # with the reason, rather than with a blank terminal later.
        probe = _run("runuser", "-u", self.user, "--", _interpreter(), "-c", "import core, tui",
                     check=False)
        if probe.returncode != 0:
            raise RuntimeError(f"the test user {self.user} cannot run {PREFER_BIN}: "
                               f"{probe.stdout}{probe.stderr}")

    def _make_keys(self) -> None:
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "prefer-test-host",
             "-f", self.host_key)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "prefer-test-client",
             "-f", self.client_key)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text(encoding="utf-8"),
                              encoding="utf-8")
        authorized.chmod(0o600)
        for path in (ssh_dir, authorized):
            os.chown(path, self.uid, self.uid)

    def _write_config(self) -> None:
        # ForceCommand is global, not in a `Match User` block: this sshd exists only for the
        # test and AllowUsers admits only the test user, so a global ForceCommand means there is
        # no configuration under which any login gets anything but `prefer annotate`.
        # TERM is not set here: the client's TERM travels in the PTY request, as in real use.
        self.config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            "LogLevel VERBOSE",
            f"AllowUsers {self.user}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no",
            "PermitEmptyPasswords no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            "StrictModes yes",
            "DisableForwarding yes",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "AllowStreamLocalForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PermitUserRC no",
            "PermitUserEnvironment no",
            "PermitTTY yes",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxSessions 1",
            f"ForceCommand {self.force_command}",
            "",
        ]), encoding="utf-8")
        self.config.chmod(0o600)

    def _start_sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        for _attempt in range(5):  # the free port may be taken between probing and binding
            self.port = _free_port()
            self._write_config()
            _run(SSHD, "-t", "-f", self.config)
            with self.log.open("ab") as log:
                self._sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config)],
                                              stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if f"Server listening on 127.0.0.1 port {self.port}" in self.sshd_log():
                    return
                if self._sshd.poll() is not None:
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError(f"sshd did not start listening within 15 s:\n{self.sshd_log()}")
            if "Address already in use" not in self.sshd_log():
                raise RuntimeError(f"sshd exited ({self._sshd.returncode}):\n{self.sshd_log()}")
        raise RuntimeError(f"sshd found no free port:\n{self.sshd_log()}")

    def sshd_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    # --- connecting ------------------------------------------------------------------------

    def ssh_argv(self, *options: str, command: str | None = None) -> list[str]:
        argv = ["ssh", "-F", "/dev/null", "-p", str(self.port), "-i", str(self.client_key),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=10", *options, f"{self.user}@127.0.0.1"]
        return [*argv, command] if command is not None else argv

    @staticmethod
    def client_env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "SSH_"))}
        env["TERM"] = TERM
        return env

    def terminal(self, command: str | None = None) -> Terminal:
        """`ssh -tt` in an 80x24 pseudo-terminal: the remote side gets a PTY of that size."""
        session = Terminal(self.ssh_argv("-tt", command=command), self.client_env())
        self._terminals.append(session)
        return session

    def popen(self, *options: str, command: str | None = None) -> subprocess.Popen[bytes]:
        """ssh without a terminal: stdin from /dev/null, stdout and stderr in one pipe."""
        client = subprocess.Popen(self.ssh_argv(*options, command=command), env=self.client_env(),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        self._clients.append(client)
        return client

    # --- looking at the remote side (same machine, and we are root) ------------------------

    def annotate_pid(self) -> int:
        """The pid of the test user's running `prefer annotate` (the Python process)."""
        for pid in self._user_pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(argv) > 2 and argv[1] == bytes(PREFER_BIN) and argv[2] == b"annotate":
                return pid
        raise AssertionError(f"no `prefer annotate` of {self.user} is running")

    @staticmethod
    def environment_of(pid: int) -> dict[str, str]:
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)

    @staticmethod
    def terminal_size_of(pid: int) -> tuple[int, int]:
        """(columns, rows) of the terminal on the process's stdin, as the remote side sees it."""
        fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NOCTTY)
        try:
            rows, columns, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ,
                                                                    b"\0" * 8))
        finally:
            os.close(fd)
        return columns, rows

    # --- tearing down ----------------------------------------------------------------------

    def stop(self) -> None:
        """Undo everything, in order, even after a partial setup; raise the first failure last."""
        errors: list[BaseException] = []
        steps = [self._stop_clients, self._stop_sshd, self._kill_user_processes,
                 self._remove_user, self._revoke_acls,
                 lambda: shutil.rmtree(self.dir, ignore_errors=True)]
        for step in steps:
            try:
                step()
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def _stop_clients(self) -> None:
        for session in self._terminals:
            session.close()
        for client in self._clients:
            if client.poll() is None:
                os.killpg(client.pid, signal.SIGKILL)
            client.wait(timeout=10)
            if client.stdout is not None:
                client.stdout.close()

    def _stop_sshd(self) -> None:
        if self._sshd is None or self._sshd.poll() is not None:
            return
        self._sshd.terminate()
        try:
            self._sshd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._sshd.kill()
            self._sshd.wait(timeout=10)

    def _user_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            # A zombie holds nothing and cannot be killed; whoever adopted it reaps it (PID 1 of
            # some containers takes a second or two), and userdel does not mind it.
            if fields.get("State", "").strip().startswith("Z"):
                continue
            if str(self.uid) in fields.get("Uid", "").split():
                pids.append(int(entry.name))
        return pids

    def _kill_user_processes(self) -> None:
        """Sessions left over by a failed test (e.g. a TUI that never quit): by pid, by uid."""
        if self.uid < 0:
            return
        deadline = time.monotonic() + 10
        while pids := self._user_pids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of {self.user} survived SIGKILL: {pids}")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def _remove_user(self) -> None:
        if not self._user_created:
            return
        result = _run("userdel", "--remove", self.user, check=False)
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            return
        raise RuntimeError(f"userdel {self.user} failed: {result.stdout}{result.stderr}")

    def _revoke_acls(self) -> None:
        for directory in self._acl_dirs:
            if not directory.exists():
                continue
            _run("setfacl", "-x", f"u:{self.uid}", directory)
            entries = _run("getfacl", "-cp", directory).stdout.splitlines()
            named = [e for e in entries if re.match(r"(user|group):[^:]+:", e)]
            if not named:  # only the mask is left: drop it, back to plain permissions
                _run("setfacl", "-b", directory)
        self._acl_dirs.clear()
