"""Reads a rigged head, its camera and render passes per frame into a shot folder."""
