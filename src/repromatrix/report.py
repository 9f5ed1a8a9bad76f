"""Stage 8: render the HTML report from stored results. Never needs Docker.

One self-contained page (inline CSS, no scripts, no network requests) that opens from a bug
tracker attachment; logs and Dockerfiles sit beside it and are linked.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from .outcomes import OUTCOME_INFO, Outcome
from .results import RunResult, write_atomic


def _environment() -> jinja2.Environment:
    # Autoescape everything: logs and package metadata are untrusted text.
    return jinja2.Environment(loader=jinja2.PackageLoader("repromatrix", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_html(run: RunResult) -> str:
    info = {o.value: OUTCOME_INFO[o] for o in Outcome}
    axes = list(run.cells[0].axes) if run.cells else []
    varying = [a for a in axes if len({c.axes[a] for c in run.cells}) > 1]
    return _environment().get_template("report.html.j2").render(
        run=run, info=info, counts=run.counts(), axes=axes, varying=varying or axes[:1])


def write_html(run: RunResult, path: Path) -> Path:
    write_atomic(path, render_html(run))
    return path
