"""Screens of the annotation app: annotating, and the help, guidelines and tagging dialogs."""
