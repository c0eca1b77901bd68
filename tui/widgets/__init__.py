"""Reusable widgets of the annotation app."""
