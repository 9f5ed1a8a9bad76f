"""The container boundary: what the host and the scenario inside a cell's container agree on
(contract.py). The scenario itself, and the other scripts that run inside containers, are
templates/scenario.py and its siblings: they run on the cell's own python3 and import nothing.
"""
