"""Progress: core reports Steps through one callback; the CLI draws them on stderr, or not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from core.progress import Step, Tracker, phase, silent
from tui.progress import progress_display, showing_progress


def test_a_tracker_reports_at_most_every_interval_and_always_the_end() -> None:
    now = [0.0]
    seen: list[Step] = []
    with Tracker(seen.append, "Importing", total=1000, unit="rows", min_interval=1.0,
                 clock=lambda: now[0]) as track:
        for _ in range(1000):
            track.advance()
            now[0] += 0.01  # 10 s in all: about ten reports, not a thousand
    assert seen[0] == Step("Importing", 0, 1000, "rows")
    assert seen[-1] == Step("Importing", 1000, 1000, "rows", finished=True)
    assert 8 <= len(seen) <= 13
    assert [s.done for s in seen] == sorted(s.done for s in seen)


def test_a_phase_opens_and_closes_a_task_even_when_the_work_fails() -> None:
    seen: list[Step] = []
    try:
        with phase(seen.append, "Storing"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert [s.finished for s in seen] == [False, True]
    assert {s.label for s in seen} == {"Storing"}


def test_progress_draws_on_a_terminal_and_is_silent_otherwise() -> None:
    pipe = Console(file=io.StringIO(), force_terminal=False)
    assert not showing_progress(False, pipe)
    with progress_display(False, pipe) as report:
        assert report is silent
    terminal_out = io.StringIO()
    terminal = Console(file=terminal_out, force_terminal=True, width=100)
    assert showing_progress(False, terminal) and not showing_progress(True, terminal)
    with progress_display(True, terminal) as report:
        assert report is silent
    with progress_display(False, terminal) as report:
        with Tracker(report, "Exporting", total=4, unit="bytes") as track:
            track.advance(4)
        with phase(report, "Building pairs"):
            pass
    drawn = terminal_out.getvalue()
    assert "Exporting" in drawn and "Building pairs" in drawn


LONG_COMMANDS = [["import"], ["import-judgments"], ["pairs"], ["balance"], ["export"],
                 ["report"], ["agreement"], ["generate"]]


def test_every_long_command_takes_quiet() -> None:
    from typer.testing import CliRunner

    from tui.cli import app

    for command in LONG_COMMANDS:
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "--quiet" in result.output, command


def test_json_output_stays_data_while_progress_is_drawn(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """With stderr a terminal, progress goes there and stdout holds only the JSON."""
    import json

    from typer.testing import CliRunner

    from tests.conftest import item_rows, write_jsonl
    from tui import progress as progress_module
    from tui.cli import app

    drawn = io.StringIO()
    terminal = Console(file=drawn, force_terminal=True, width=100)
    monkeypatch.setattr(progress_module, "stderr", terminal)
    root = Path(tmp_path) / "p"
    CliRunner().invoke(app, ["init", str(root)])
    data = write_jsonl(Path(tmp_path) / "p.jsonl", item_rows(3))
    result = CliRunner().invoke(app, ["import", str(data), "-p", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new_prompts"] == 3
    assert "Reading p.jsonl" in drawn.getvalue()
    assert "Validating and storing" in drawn.getvalue()
