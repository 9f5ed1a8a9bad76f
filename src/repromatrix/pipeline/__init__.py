"""The stages wired together: run.py reads as the list of stages."""
