"""Domain logic of prefer: configuration, the store, import, annotation rules, pairs and export.

Nothing in this package imports a user interface library; `tui` is the only face.
"""

__version__ = "0.1.0"
