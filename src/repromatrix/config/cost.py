"""What cells cost a machine, estimated: what shards balance on, what the size guard quotes, and
how many cells one engine can hold at once.

Without history a cell costs SECONDS_PER_UPGRADE (by index) × (1 + its axes' extra upgrades) plus
its axes' waits (axes.Cost); a cell expected to fail costs ATTEMPTS_PER_FAILURE times that again
when remedies run. With history (an earlier run of the same matrix) a cell costs what it took last
time: its build and run seconds plus its remedy attempts'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..core.axes import cell_cost
from ..core.model import Cell
from ..core.outcomes import OUTCOME_INFO
from ..infra.engine import Capacity

# Seconds one upgrade takes: a real TensorFlow (a 500-650 MB wheel and its dependencies) against the
# local index's kilobyte models. Measured on 2 cores: 50-70 s and 5-10 s.
SECONDS_PER_UPGRADE = {True: 8.0, False: 60.0}  # by "the index is the local one"
ATTEMPTS_PER_FAILURE = 3  # remedies that apply to a typical failing cell (remedies.py)
# What one cell holds while it runs: pip unpacking a real wheel peaks near 1.5 GiB; the local
# index's models need little. Two cells per core: a cell mostly waits on the network and the disk.
MEMORY_PER_CELL = {True: 512 * 2**20, False: 3 * 2**29}
CELLS_PER_CPU = 2


def estimate(cell: Cell, local_index: bool, remedies_on: bool) -> float:
    """Seconds the cell should take, from its axes alone."""
    cost = cell_cost(cell.axes)
    seconds = SECONDS_PER_UPGRADE[local_index] * (1 + cost.upgrades) + cost.waits
    fails = bool(cell.expected) and all(OUTCOME_INFO[o].failed for o in cell.expected)
    return seconds * (1 + ATTEMPTS_PER_FAILURE) if remedies_on and fails else seconds


def seconds_by_cell(
    cells: Iterable[Cell], local_index: bool, remedies_on: bool, past: Mapping[str, float]
) -> dict[str, float]:
    return {c.id: past.get(c.id) or estimate(c, local_index, remedies_on) for c in cells}


def machine_time(seconds: float) -> str:
    """'about 6.4 machine-hours', for people deciding whether to start something."""
    if seconds < 120:
        return f"about {seconds:.0f} machine-seconds"
    if seconds < 7200:
        return f"about {seconds / 60:.0f} machine-minutes"
    hours = seconds / 3600
    return (
        f"about {hours:,.1f} machine-hours" if hours < 100 else f"about {hours:,.0f} machine-hours"
    )


def cells_at_once(capacity: Capacity, local_index: bool) -> int:
    """How many cells an engine's machine can hold at once."""
    return max(
        1, min(capacity.cpus * CELLS_PER_CPU, capacity.memory // MEMORY_PER_CELL[local_index])
    )
