"""The store's files are its owner's alone: the database, its WAL and DuckDB's spill files.

DuckDB creates them with the process umask, the WAL again after every checkpoint, the spill
files during a large sort; so the modes are checked on files DuckDB made after the store was
opened under a loose umask, and an annotator's account is shown the door by the kernel.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.annotation import AnnotationSession
from core.assign import assign
from core.models import Judgment
from core.project import Project, init_project
from core.server import server_answers
from core.sources import import_file
from core.store import LocalStore, open_store
from core.store.private import make_umask_private, tighten
from tests.conftest import REPO_ROOT, item_rows, write_jsonl
from tests.os_users import os_users, require_root_tools, traversable_for
from tui.cli import app

PLANTED = "bob-justification-7f3a: the second answer leaks the client's account number"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _sidecars(database: Path) -> tuple[Path, Path]:
    return database.with_name(database.name + ".wal"), database.with_name(database.name + ".tmp")


def _items(store: LocalStore, project: Project, folder: Path) -> None:
    import_file(store, write_jsonl(folder / "items.jsonl", item_rows(4)), actor="admin")


def _save(store: LocalStore, annotator: str, justification: str, tag: str = "") -> None:
    prompt_id = store.next_prompt_id(annotator)
    assert prompt_id is not None
    item = store.get_item(prompt_id)
    assert item is not None
    shown = tuple(c.candidate_id for c in item.candidates)
    store.save_judgment(Judgment(f"j_{annotator}{tag}", annotator, prompt_id, "ranked", shown,
                                 best_candidate_id=shown[0], worst_candidate_id=shown[-1],
                                 justification=justification))


def _while_spilling(store: LocalStore, database: Path,
                    look: Callable[[list[Path]], bool]) -> None:
    """Run a sort too big for memory; call `look(spill files)` while DuckDB's spill files exist,
    until it returns True. Fails unless DuckDB spilled and `look` was satisfied."""
    _, spill_dir = _sidecars(database)
    store.execute_for_test("SET threads = 1")
    store.execute_for_test("SET preserve_insertion_order = false")
    store.execute_for_test("SET memory_limit = '32MB'")
    failure: list[BaseException] = []

    def sort() -> None:
        try:
            store.execute_for_test("SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h "
                                   "FROM range(1500000) r(i) ORDER BY h)")
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    worker = threading.Thread(target=sort)
    worker.start()
    satisfied = False
    try:
        while worker.is_alive() and not satisfied:
            spilled = [Path(p) for p in glob.glob(str(spill_dir / "duckdb_temp_*storage*"))]
            if spilled:
                satisfied = look(spilled)
            time.sleep(0.002)
    finally:
        worker.join()
        store.execute_for_test("RESET memory_limit")
    assert not failure, failure
    assert satisfied, f"DuckDB spilled nothing into {spill_dir} that could be checked"


# --- (a) modes, whatever umask the process had ---------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o027], ids=["umask0000", "umask0022", "umask0027"])
def test_database_wal_and_spill_files_are_owner_only_whatever_the_umask(tmp_path: Path,
                                                                         umask: int) -> None:
    os.umask(umask)
    project = init_project(tmp_path / "alignment")
    database = project.database_path
    wal, spill_dir = _sidecars(database)
    store = open_store(database)
    try:
        _items(store, project, tmp_path)
        _save(store, "bob", PLANTED)
        # DuckDB keeps recent writes in the WAL, in plain text, until a checkpoint.
        assert PLANTED.encode() in wal.read_bytes()
        assert (_mode(database), _mode(wal)) == (0o600, 0o600)

        seen: dict[Path, int] = {}

        def record(spilled: list[Path]) -> bool:
            try:
                seen[spill_dir] = _mode(spill_dir)
                seen.update({p: _mode(p) for p in spilled})
            except FileNotFoundError:  # DuckDB dropped one between the listing and the stat
                return False
            return True

        _while_spilling(store, database, record)
        assert seen.pop(spill_dir) == 0o700
        assert seen and set(seen.values()) == {0o600}, seen

        # A checkpoint deletes the WAL; the next write creates it afresh, just as private.
        store.execute_for_test("CHECKPOINT")
        assert not wal.exists()
        _save(store, "carol", "a later write after the checkpoint", tag="2")
        assert wal.exists() and _mode(wal) == 0o600
        # The umask stays private for the process: what it writes next is owner-only too.
        assert os.umask(0o077) & 0o077 == 0o077
        (tmp_path / "export.jsonl").write_text("{}\n")
        assert _mode(tmp_path / "export.jsonl") == 0o600
    finally:
        store.close()
    assert _mode(database) == 0o600


def test_the_umask_keeps_its_owner_bits_and_tightens_in_one_step() -> None:
    os.umask(0o222)
    assert make_umask_private() == 0o222
    assert os.umask(0o022) == 0o277


@pytest.mark.parametrize("read_only", [False, True])
def test_an_older_store_left_readable_is_tightened_at_open(tmp_path: Path,
                                                          read_only: bool) -> None:
    # As an older prefer left it: the database and a WAL 0644, a spill folder 0755 after a crash.
    os.umask(0o022)
    project = init_project(tmp_path / "alignment")
    database = project.database_path
    wal, spill_dir = _sidecars(database)
    store = open_store(database)
    _items(store, project, tmp_path)
    _save(store, "bob", PLANTED)
    store.execute_for_test("PRAGMA disable_checkpoint_on_shutdown")  # the WAL stays behind
    store.close()
    spill_dir.mkdir()
    for path, mode in [(database, 0o644), (wal, 0o644), (spill_dir, 0o755)]:
        os.chmod(path, mode)

    store = open_store(database, read_only=read_only)
    try:
        assert (_mode(database), _mode(wal), _mode(spill_dir)) == (0o600, 0o600, 0o700)
        assert [j.justification for j in store.judgments_of("bob")] == [PLANTED]
    finally:
        store.close()


def test_tighten_takes_only_group_and_other_bits(tmp_path: Path) -> None:
    database = tmp_path / "prefer.duckdb"
    database.write_bytes(b"")
    os.chmod(database, 0o444)
    assert tighten(database) == [database]
    assert _mode(database) == 0o400
    assert tighten(database) == []  # nothing left to take; absent WAL and folder are fine


def test_an_export_without_a_server_is_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    project = init_project(tmp_path / "alignment")
    store = open_store(project.database_path)
    _items(store, project, tmp_path)
    session = AnnotationSession(store, project.config, "alice", "g")
    while session.next_item() is not None:
        session.press(1)
        session.press(2)
        session.save("The first is accurate; the second is not.")
    store.close()
    os.umask(0o022)  # a fresh `prefer export` process, from a shell with umask 0022
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", "--format", "hf", "--val-fraction", "0.3",
                                      "--out", str(out), "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    written = {p.relative_to(out).as_posix(): _mode(p) for p in [out, *out.rglob("*")]}
    assert written == {".": 0o700, "data": 0o700, "README.md": 0o600, "manifest.json": 0o600,
                       "data/train-00000-of-00001.parquet": 0o600,
                       "data/test-00000-of-00001.parquet": 0o600}


# --- (b) another OS user, as on the deployment of docs/deploy-ssh.md -------------------------


def _as_user(user: str, *command: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True,
                          timeout=60, cwd="/")


def _cat(user: str, path: Path) -> str:
    """What `user` got trying to read `path`: "denied", "gone", or what they read."""
    done = _as_user(user, "cat", str(path))
    if done.returncode != 0 and b"Permission denied" in done.stderr:
        return "denied"
    if done.returncode != 0 and b"No such file" in done.stderr:
        return "gone"
    if done.returncode != 0:
        return f"{user} could not read {path.name}: {done.stderr!r}"
    planted = ", with the planted justification" if PLANTED.encode() in done.stdout else ""
    return f"{user} read {path.name}: {len(done.stdout)} bytes{planted}"


def test_an_annotator_cannot_read_the_database_wal_or_spill_files_in_embedded_mode() -> None:
    require_root_tools()
    folder = Path(tempfile.mkdtemp(prefix="prefer-private-"))
    os.chmod(folder, 0o755)
    try:
        with os_users(1) as ([alice], group):
            project = init_project(folder / "alignment")
            root = project.root
            # The project folder as in docs/deploy-ssh.md: group annotators may enter it; setgid,
            # so new files get that group, as for a service running with Group=annotators.
            for path, mode in [(root, 0o2750), (project.config_path, 0o640)]:
                os.chown(path, 0, grp.getgrnam(group).gr_gid)
                os.chmod(path, mode)
            os.umask(0o027)  # the systemd unit's UMask
            database = project.database_path
            wal, _ = _sidecars(database)
            store = open_store(database)
            try:
                _items(store, project, folder)
                _save(store, "bob", PLANTED)
                assert PLANTED.encode() in wal.read_bytes()
                # alice reaches the folder and reads what is meant for her: only the store is shut.
                assert _as_user(alice, "cat", str(project.config_path)).returncode == 0
                got = {"wal": _cat(alice, wal), "database": _cat(alice, database)}

                def try_read(spilled: list[Path]) -> bool:
                    got["spill file"] = _cat(alice, spilled[0])
                    return got["spill file"] != "gone"  # dropped meanwhile: try the next one

                _while_spilling(store, database, try_read)
                assert got == {"wal": "denied", "database": "denied", "spill file": "denied"}
            finally:
                store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CLIENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.models import Judgment
    from core.store.remote import RemoteStore
    store = RemoteStore(Path(sys.argv[1]))
    me = store.identity["annotator"]
    prompt_id = store.next_prompt_id(me)
    shown = tuple(c.candidate_id for c in store.get_item(prompt_id).candidates)
    store.save_judgment(Judgment("j_" + me, me, prompt_id, "ranked", shown,
                                 best_candidate_id=shown[0], worst_candidate_id=shown[-1],
                                 justification=sys.argv[2]))
    print("saved")
""")


def _ids(user: str) -> dict:
    account = pwd.getpwnam(user)
    return {"user": account.pw_uid,
            "extra_groups": [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]}


def test_an_annotator_cannot_read_the_wal_of_prefer_serve() -> None:
    # The case: the service user runs `prefer serve` with UMask=0027 and Group=annotators;
    # bob saves a judgment through the server; alice, in the same group, tries the WAL.
    require_root_tools()
    folder = Path(tempfile.mkdtemp(prefix="prefer-private-"))
    os.chmod(folder, 0o755)
    try:
        with os_users(3) as ([service, alice, bob], group):
            gid = grp.getgrnam(group).gr_gid
            project = init_project(folder / "alignment")
            root = project.root
            project.config_path.write_text(project.config_path.read_text().replace(
                "[annotators]\n", f'[annotators]\n{alice} = "annotator"\n{bob} = "annotator"\n'))
            store = open_store(project.database_path)
            _items(store, project, folder)
            assign(store, [alice, bob], actor="admin", per_item=1)
            store.close()
            for path in [root, *root.iterdir()]:
                os.chown(path, pwd.getpwnam(service).pw_uid, gid)
            os.chmod(root, 0o750)
            os.chmod(project.config_path, 0o640)
            env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
            with traversable_for(group, REPO_ROOT, Path(sys.executable).resolve(), folder):
                server = subprocess.Popen(
                    [sys.executable, "-c", "from tui.cli import main; main()", "serve",
                     "-p", str(root), "--group", group],
                    env=env, cwd="/", group=gid, umask=0o027, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, **_ids(service))
                try:
                    socket_path = root / "prefer.sock"
                    deadline = time.monotonic() + 30
                    while not (socket_path.exists() and server_answers(socket_path)):
                        assert server.poll() is None, server.communicate()
                        assert time.monotonic() < deadline, "prefer serve did not answer"
                        time.sleep(0.1)
                    saved = subprocess.run(
                        [sys.executable, "-c", CLIENT, str(socket_path), PLANTED], env=env,
                        cwd="/", capture_output=True, text=True, timeout=60,
                        group=pwd.getpwnam(bob).pw_gid, **_ids(bob))
                    assert saved.stdout.strip() == "saved", saved.stderr
                    database = project.database_path
                    wal, _ = _sidecars(database)
                    assert PLANTED.encode() in wal.read_bytes()  # not checkpointed yet
                    assert _as_user(alice, "cat", str(project.config_path)).returncode == 0
                    assert {"wal": _cat(alice, wal), "database": _cat(alice, database)} == {
                        "wal": "denied", "database": "denied"}
                    assert (_mode(database), _mode(wal)) == (0o600, 0o600)
                    server.send_signal(signal.SIGTERM)
                    assert server.wait(timeout=30) == 0, server.communicate()
                finally:  # before os_users removes the service user it runs as
                    if server.poll() is None:
                        server.kill()
                        server.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
