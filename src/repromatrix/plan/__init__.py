"""Stage 3: each cell resolved into a typed plan, and its build context rendered
(templates/Dockerfile.j2, one fragment per axis).
"""
