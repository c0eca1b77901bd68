"""Every key of the annotation screen, as data: one registry feeds the footer and the help screen.

Each binding has a stable id, so `[keys]` in prefer.toml can move it to another key
(for example `skip = "x"`).
"""

from __future__ import annotations

from textual.binding import Binding

# Shared by the annotation and the adjudication screens: a digit marks a response.
MARK_BINDINGS: list[Binding] = [
    Binding(str(n), f"mark({n})", f"mark response {n}", show=False, id=f"mark_{n}")
    for n in range(1, 10)
]
# Shared too: moving through long responses by keyboard.
SCROLL_BINDINGS: list[Binding] = [
    Binding("j,down", "scroll(1)", "scroll down", show=False, id="scroll_down"),
    Binding("k,up", "scroll(-1)", "scroll up", show=False, id="scroll_up"),
    Binding("pagedown,space", "page(1)", "page down", show=False, id="page_down"),
    Binding("pageup", "page(-1)", "page up", show=False, id="page_up"),
]

ANNOTATE_BINDINGS: list[Binding] = [
    *MARK_BINDINGS,
    Binding("enter", "write", "write why", show=False, id="write"),
    Binding("escape", "choose", "back to choosing", show=False, id="choose"),
    Binding("s", "skip", "skip", id="skip"),
    Binding("u", "back", "back", id="back"),
    Binding("t", "tag", "tag", id="tag"),
    Binding("f", "flag", "flag", id="flag"),
    Binding("p", "prompt", "whole prompt", id="prompt"),
    Binding("v", "provenance", "how made", show=False, id="provenance"),
    Binding("g", "guidelines", "guidelines", id="guidelines"),
    Binding("question_mark", "help", "keys", key_display="?", id="help"),
    Binding("q", "quit", "quit", id="quit"),
    *SCROLL_BINDINGS,
]

# How the help screen explains each binding id, in words an annotator uses.
HELP_TEXT: dict[str, str] = {
    "mark": "the number of the best response, then of the worst (with two responses the "
            "other is the worst); the best again clears it",
    "write": "go to the justification box (it opens by itself once best and worst are set)",
    "save": "in the justification box: save and open the next item",
    "choose": "leave the justification box to change best or worst",
    "skip": "skip this item; it comes back at the end of your queue",
    "back": "go back to the item before, to look at it or change your judgment",
    "tag": "tag the behaviour dimension(s) the decision is about",
    "flag": "flag this item for a reviewer with a note (a broken prompt, answers no one can "
            "judge); it stays in your queue",
    "prompt": "show the whole prompt (and system prompt) when it is cut off",
    "provenance": "show or hide how each response was generated (variant, temperature); "
                  "hidden by default so you judge blind",
    "guidelines": "show the annotation guidelines",
    "help": "show this list of keys",
    "quit": "quit (everything saved is kept)",
    "scroll_down": "scroll the responses down (also ↓)",
    "scroll_up": "scroll the responses up (also ↑)",
    "page_down": "page down (also Space)",
    "page_up": "page up",
}


def help_rows(keymap: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen, after any remapping from prefer.toml."""
    keymap = keymap or {}
    rows: list[tuple[str, str]] = [("1-9", HELP_TEXT["mark"])]
    for binding in ANNOTATE_BINDINGS:
        if binding.id is None or binding.id.startswith("mark_"):
            continue
        key = keymap.get(binding.id, binding.key_display or binding.key)
        key = key.replace(",", " / ").replace("enter", "Enter").replace("escape", "Esc")
        rows.append((key, HELP_TEXT.get(binding.id, binding.description)))
    rows.insert(2, ("Enter", HELP_TEXT["save"]))
    return rows
