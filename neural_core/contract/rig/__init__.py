"""Rig vocabularies (ARKit-52, FLAME) and profiles mapping shape keys to coefficients."""
