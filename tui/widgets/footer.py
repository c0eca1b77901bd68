"""The key line at the bottom of the annotation screen, rebuilt only when what it shows changes."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

# What the footer shows for one binding: its key, its text, whether it is enabled, its tooltip.
ShownBinding = tuple[str, str, str, bool, str]


def shown_bindings(screen: Screen) -> frozenset[ShownBinding]:
    """The bindings the footer would show for `screen` now. As a set: Textual orders them by
    the focused widget's bindings first, so the same keys come in another order when the
    justification box has focus (it binds ctrl+d itself, which the screen overrides)."""
    return frozenset((binding.key, binding.action, binding.description, enabled, tooltip)
                     for (_node, binding, enabled, tooltip) in screen.active_bindings.values()
                     if binding.show)


class StableFooter(Footer):
    """Textual's Footer, which rebuilds its keys (a dozen widgets mounted, styled and laid out)
    every time the screen's bindings are refreshed: on every focus change, i.e. twice per judged
    item (the justification box takes focus after the picks, the candidates after the save).
    The annotation screen's keys are the same with either focused, so this footer rebuilds only
    when the bindings it shows differ (and keeps their order meanwhile, so keys do not move
    about as the focus moves); measured, the rebuild was the largest single cost of
    showing the next item (docs/benchmarks.md, "Save -> next item on screen")."""

    _shown: frozenset[ShownBinding] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = shown_bindings(screen)
            if shown == self._shown:
                self._bindings_ready = True
                return
            self._shown = shown
        super().bindings_changed(screen)
