"""Subcommands of ``python -m neural_core`` (one module each)."""
