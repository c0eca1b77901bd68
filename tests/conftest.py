"""Shared fixtures: a fresh project in a temp folder, and helpers to write input files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.models import Judgment
from core.project import Project, init_project
from core.store import LocalStore, open_store

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PROMPTS = REPO_ROOT / "sample_data" / "prompts.jsonl"


# Tests that create throwaway OS users and groups (useradd/groupadd take /etc/passwd's lock, and
# a second one at the same time fails) or add ACL entries to shared folders such as /root (each
# setfacl reads, changes and writes the whole ACL, so two at once can lose an entry, and
# SshServer clears a folder's ACL once its own entry is the last): under pytest-xdist (`make
# test` runs 2 workers) they all run on one worker, one after the other. xdist's own
# `--dist loadgroup` cannot do it with pytest 9 (the group suffix it writes into `_nodeid` is
# no longer read), so the scheduler below makes them one work unit by module.
OS_IDENTITY_MODULES = ("test_hostile.py", "test_ssh.py", "test_private_files.py", "test_server.py",
                       "test_judge.py")  # test_judge: `prefer serve` with real OS users
OS_IDENTITY_UNIT = "os_identity"
# Long single tests start first, so that neither worker is left alone with one at the end.
LONG_TESTS = ("test_docs.py::test_every_command_block_runs",
              "test_server_load.py::", "test_work_queue.py::test_answers_equal_the_view_based",
              "test_bench_annotate.py::", "test_tui_safety.py::test_sentences_typed_at_every_stage")


def _in_os_identity_unit(nodeid: str) -> bool:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1] in OS_IDENTITY_MODULES


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class OsIdentityScheduling(LoadScopeScheduling):
        """Each test is a work unit of its own (like `--dist load`), except the OS-identity
        tests, which form one unit; the largest unit is handed out first."""

        def _split_scope(self, nodeid: str) -> str:
            return OS_IDENTITY_UNIT if _in_os_identity_unit(nodeid) else nodeid

    return OsIdentityScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker reorders alike, as xdist requires
        items.sort(key=lambda item: not any(long in item.nodeid for long in LONG_TESTS))


@pytest.fixture(autouse=True)
def _no_project_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never touch a user's real project.
    monkeypatch.delenv("PREFER_PROJECT", raising=False)


_RUN_UMASK = os.umask(0o077)
os.umask(_RUN_UMASK)


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    # Opening a store makes the process umask private for good (core/store/private.py), module
    # fixtures included; each test starts from the umask the run started with, so files it makes
    # for other OS users keep the modes it expects.
    os.umask(_RUN_UMASK)
    yield
    os.umask(_RUN_UMASK)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return init_project(tmp_path / "alignment")


@pytest.fixture
def store(project: Project) -> Iterator[LocalStore]:
    opened = open_store(project.database_path)
    yield opened
    opened.close()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


_WORDS = ["contract", "fee", "refund", "notice", "branch", "advisor", "deposit", "statement",
          "transfer", "card", "limit", "interest", "loan", "policy", "claim", "clinic", "dosage",
          "symptom", "appointment", "referral", "court", "filing", "deadline", "witness", "tenant",
          "lease", "invoice", "account", "balance", "pension", "tax", "audit", "warranty",
          "delivery", "return", "privacy", "consent", "record"]


def _words(seed: int, count: int) -> str:
    # Distinct texts per seed, so the near-duplicate filters see ordinary, unrelated texts.
    return " ".join(_WORDS[(seed * 7919 + k * 104729 + (seed // 3) * k) % len(_WORDS)]
                    for k in range(count))


def item_rows(count: int, candidates: int = 3, **extra: Any) -> list[dict[str, Any]]:
    """`count` prompts, each with `candidates` distinct responses (no two near-identical)."""
    return [{"id": f"q{i:03d}",
             "prompt": f"Question number {i} about {_words(i, 6)}: may I cancel my contract?",
             "candidates": [f"Answer {j}: {_words(i * 31 + j * 17 + 5, 3 + 2 * j)}."
                            for j in range(candidates)], **extra}
            for i in range(count)]


def insert_judgment_row(store: LocalStore, judgment: Judgment) -> None:
    """Store a judgment row as `prefer import-judgments` may (a ranking without best or worst,
    a best only), which the store's own save_judgment refuses from an annotation screen."""
    store.execute_for_test(
        "INSERT INTO judgments VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, NULL, NULL, now(), NULL)",
        [judgment.judgment_id, judgment.annotator, judgment.prompt_id, judgment.kind,
         judgment.best_candidate_id, judgment.worst_candidate_id, list(judgment.dimensions),
         judgment.justification, list(judgment.shown_order)])
