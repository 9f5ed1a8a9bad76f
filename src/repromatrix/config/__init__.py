"""Stages 1-2: the matrix file read and checked, expanded into cells, selected, costed and split
into shards.
"""
