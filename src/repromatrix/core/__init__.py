"""The domain, declared once: cells, targets, outcomes, axes, interpreters as data, errors; and the
templates every stage renders. Imports nothing above it.
"""
