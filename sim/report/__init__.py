"""Figures, maps and reports built from a results folder."""
