"""Stage 5: what happened, in the installer's own words (classify.py), why no wheel fitted, the
index's releases, and the remedies to try.
"""
