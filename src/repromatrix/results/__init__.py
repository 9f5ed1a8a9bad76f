"""Stage 6: results as data (results.json, the journal), history and trends, merged shards, and the
report formats. Needs no Docker.
"""
