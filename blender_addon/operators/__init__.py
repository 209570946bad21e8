"""Operators of the add-on: thin wrappers that snapshot settings and call plain functions."""
