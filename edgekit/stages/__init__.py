"""Stages: each turns one artifact into a NEW artifact at a new path."""
