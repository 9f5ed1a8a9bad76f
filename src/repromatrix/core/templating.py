"""The Jinja2 environments and the files under templates/, one of each per process.

A `jinja2.Environment` keeps the templates it compiled; making one per call compiled the
Dockerfile's seven templates again for every cell (49 of `render`'s 51 seconds on 500 cells).
Each kind of output keeps its own whitespace and escaping rules, so each is its own style.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from importlib import resources
from typing import Literal, assert_never

import jinja2

# dockerfile: a cell's Dockerfile (blocks trimmed, values quoted by filters); image: an
# interpreter image's Dockerfile; service: the index's and proxies' files; report: the HTML page.
Style = Literal["dockerfile", "image", "service", "report"]


CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what no Dockerfile line can hold


def docker_env_value(value: str) -> str:
    """A value for `ENV NAME=...` that Docker reads back as exactly `value`: single-quoted, where
    Docker expands nothing and reads backslashes literally; a ' closes, adds "'" and reopens
    (checked with a real build: ENV C='a"b'"'"'c\\' gives a"b'c\\)."""
    if CONTROL.search(value):
        raise ValueError(f"{value!r}: control characters cannot be written into a Dockerfile")
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _json(value: object) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


@functools.cache
def environment(style: Style) -> jinja2.Environment:
    loader = jinja2.PackageLoader("repromatrix", "templates")  # shipped files: no reload checks
    if style == "dockerfile":
        env = jinja2.Environment(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            auto_reload=False,
        )
        env.filters["env"] = docker_env_value
        env.filters["sh"] = shlex.quote
        env.filters["json"] = _json
        return env
    if style == "image":
        return jinja2.Environment(
            loader=loader,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
        )
    if style == "service":
        return jinja2.Environment(loader=loader, keep_trailing_newline=True)
    if style == "report":
        return jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    assert_never(style)


def render(style: Style, name: str, /, **values: object) -> str:
    """`name` rendered with `values` (positional-only: a template may use any name, even style)."""
    return environment(style).get_template(name).render(**values)


@functools.cache
@functools.cache
def template_bytes(name: str) -> bytes:
    """A file under templates/ as shipped (a script copied into a build context, a report asset);
    read once a process, as the environments' templates are."""
    return resources.files("repromatrix").joinpath(f"templates/{name}").read_bytes()


def template_text(name: str) -> str:
    return template_bytes(name).decode("utf-8")
