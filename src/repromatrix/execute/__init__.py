"""Stage 4: one fresh container per cell and per remedy attempt, scheduled over the engine, with
progress.
"""
