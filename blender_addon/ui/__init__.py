"""Panels of the add-on (Properties editor)."""
