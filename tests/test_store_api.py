"""The Store declaration is the one contract: every operation implemented, served, typed and
documented, and nothing else reachable over the socket."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing

import pytest

from core.server import authorize
from core.store import LocalStore, RemoteStore, Store, codec, connect_store
from core.store.api import OPERATIONS, reference_table, wire_types
from tests.conftest import REPO_ROOT

# LocalStore's own public methods that are not operations: never served.
LOCAL_ONLY = {"open", "close", "rules", "execute_for_test", "append_event",
              "fill_missing_languages",
              "write_stats"}  # a benchmark hook (tests/benchmarks/bench_saves.py)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_is_implemented_with_the_declared_signature(name: str) -> None:
    declared = OPERATIONS[name].signature
    implemented = getattr(LocalStore, name, None)
    assert implemented is not None and name in vars(LocalStore), f"LocalStore lacks {name}"
    assert str(inspect.signature(implemented)) == str(declared), name
    assert typing.get_type_hints(implemented) == OPERATIONS[name].hints, name


def test_local_store_has_no_public_method_the_declaration_misses() -> None:
    public = {n for n, v in vars(LocalStore).items() if callable(v) or isinstance(v, classmethod)
              if not n.startswith("_")}
    assert public - LOCAL_ONLY == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_is_served_and_forwarded(name: str) -> None:
    forwarder = vars(RemoteStore).get(name)
    assert forwarder is not None, f"RemoteStore has no {name}"
    assert inspect.signature(forwarder) == OPERATIONS[name].signature
    assert forwarder.__doc__ == OPERATIONS[name].doc and forwarder.__doc__


def test_remote_store_forwards_nothing_undeclared() -> None:
    assert not hasattr(RemoteStore, "__getattr__")
    assert not hasattr(RemoteStore, "execute_for_test")


def test_every_type_an_operation_names_can_cross_the_wire() -> None:
    for name, cls in wire_types().items():
        assert codec._TYPES[name] is cls
    # and nothing else: a dataclass the declaration does not name is refused
    with pytest.raises(ValueError, match="unknown type"):
        codec.loads(b'{"__type__": "Config"}\n')


def test_writes_and_actors_are_declared_consistently() -> None:
    for op in OPERATIONS.values():
        takes_actor = "actor" in op.signature.parameters
        assert takes_actor == (op.actor == "actor"), op.name
        if op.writes:
            assert op.actor is not None, op.name


def test_the_store_reference_in_the_docs_is_the_declaration() -> None:
    doc = (REPO_ROOT / "docs" / "store.md").read_text(encoding="utf-8")
    assert reference_table() in doc, "regenerate docs/store.md's table: core.store.api." \
                                     "reference_table()"
    for op in OPERATIONS.values():
        assert f"`{op.name}`" in doc


def test_connect_store_returns_the_declared_type() -> None:
    assert typing.get_type_hints(connect_store)["return"] is Store


def test_no_caller_types_the_store_loosely() -> None:
    loose = re.compile(r"\bstore: (object|Any)\b")
    offenders = [f"{p}:{n}" for p in [*REPO_ROOT.joinpath("core").rglob("*.py"),
                                      *REPO_ROOT.joinpath("tui").rglob("*.py")]
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if loose.search(line)]
    assert offenders == []


def test_the_store_package_never_imports_the_server() -> None:
    code = ("import sys, core.store, core.store.remote, core.store.local; "
            "print('core.server' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_an_undeclared_method_is_refused_by_the_server(store: LocalStore) -> None:
    from core.errors import AccessDeniedError
    from core.server import Caller

    admin = Caller("root", 0, "admin", "root")
    for name in sorted(LOCAL_ONLY | {"__init__", "_transaction", "_append_event"}):
        with pytest.raises(AccessDeniedError, match="no such store operation"):
            authorize(store, admin, name, [], {})


