"""Every key of the annotation screen, as data: one registry feeds the footer and the help screen.

The rule an annotator learns once: **digits pick, letters write, Ctrl+letter commands.** No
printable key ever skips, quits, flags, tags or goes back, so typing a sentence at any moment
is safe; commands sit on Ctrl keys (and F1), which prose never contains. Each binding has a
stable id, so `[keys]` in prefer.toml can move it to another key (for example `skip = "f2"`).
Descriptions come from the message catalogue (tui/i18n.py) under `key.<id>` and `help.<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from tui.i18n import tr


@dataclass(frozen=True)
class Command:
    """One command key: `keys` in Textual's notation, `action` on the screen."""

    id: str
    keys: str
    action: str
    show: bool = True  # in the footer (the help screen lists every one)
    key_display: str | None = None
    priority: bool = True  # works while the justification box has focus too


ANNOTATE_COMMANDS: list[Command] = [
    Command("write", "enter", "write", show=False, key_display="Enter", priority=False),
    Command("choose", "escape", "choose", show=False, key_display="Esc", priority=False),
    Command("skip", "ctrl+s", "skip", key_display="^S"),
    Command("back", "ctrl+z", "back", key_display="^Z"),
    Command("no_preference", "ctrl+n", "no_preference", show=False, key_display="^N"),
    Command("diff", "ctrl+d", "diff", key_display="^D"),
    Command("history", "ctrl+r", "history", key_display="^R"),
    Command("tag", "ctrl+t", "tag", show=False, key_display="^T"),
    Command("flag", "ctrl+f", "flag", show=False, key_display="^F"),
    Command("prompt", "ctrl+p", "prompt", show=False, key_display="^P"),
    Command("raw", "ctrl+y", "raw", show=False, key_display="^Y"),
    Command("provenance", "ctrl+o", "provenance", show=False, key_display="^O"),
    Command("guidelines", "ctrl+g", "guidelines", show=False, key_display="^G"),
    Command("help", "f1", "help", key_display="F1"),
    Command("quit", "ctrl+q", "app.request_quit", key_display="^Q"),
    Command("scroll_down", "down", "scroll(1)", show=False, key_display="↓", priority=False),
    Command("scroll_up", "up", "scroll(-1)", show=False, key_display="↑", priority=False),
    Command("page_down", "pagedown", "page(1)", show=False, key_display="PgDn",
            priority=False),
    Command("page_up", "pageup", "page(-1)", show=False, key_display="PgUp", priority=False),
]

# Keys that are not commands but typing, listed first on the help screen: (keys, help key).
TYPING_ROWS: dict[str, list[tuple[str, str]]] = {
    "best-worst": [("1-9", "help.mark"), ("Enter", "help.save")],
    "rank": [("1-9 =", "help.rank"), ("Backspace", "help.rank_undo"), ("Enter", "help.save")],
}


def to_binding(command: Command, keymap: dict[str, str] | None = None) -> Binding:
    keys = (keymap or {}).get(command.id, command.keys)
    return Binding(keys, command.action, tr(f"key.{command.id}"), show=command.show,
                   id=command.id, priority=command.priority,
                   key_display=command.key_display if keys == command.keys else None)


def annotate_bindings(keymap: dict[str, str] | None = None) -> list[Binding]:
    """The annotation screen's bindings in the current language, after remapping."""
    return [to_binding(c, keymap) for c in ANNOTATE_COMMANDS]


def binding_ids() -> list[str]:
    return [c.id for c in ANNOTATE_COMMANDS]


def help_rows(keymap: dict[str, str] | None = None,
              mode: str = "best-worst") -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen, after any remapping from prefer.toml."""
    keymap = keymap or {}
    rows = [(keys, tr(key)) for keys, key in TYPING_ROWS.get(mode, TYPING_ROWS["best-worst"])]
    for command in ANNOTATE_COMMANDS:
        if command.id == "write":
            continue
        keys = keymap.get(command.id)
        shown = keys or command.key_display or command.keys
        rows.append((shown, tr(f"help.{command.id}")))
    return rows


# The adjudication screen's scroll keys (a reviewer's screen has no prose typed before the
# decision is complete, so it keeps single-key commands; its digits are typed, not bound).
SCROLL_BINDINGS: list[Binding] = [
    Binding("j,down", "scroll(1)", "scroll down", show=False, id="scroll_down"),
    Binding("k,up", "scroll(-1)", "scroll up", show=False, id="scroll_up"),
    Binding("pagedown,space", "page(1)", "page down", show=False, id="page_down"),
    Binding("pageup", "page(-1)", "page up", show=False, id="page_up"),
]

# The annotation screen's bindings in English, for docs checks (screens build their own, in
# the annotator's language, with annotate_bindings()).
ANNOTATE_BINDINGS: list[Binding] = annotate_bindings()
