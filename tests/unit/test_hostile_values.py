"""Property tests: hostile values in every field of matrix.yaml are data, never code.

For each field, Hypothesis generates values with quotes, backslashes, `$`, backticks, line
breaks, NUL, ANSI escapes and Unicode controls (alone and appended to a valid value, to get past
validation). Loading, expanding and rendering either raise the project's own error or produce
Dockerfiles with exactly the instructions of a harmless twin (parsed with dockerfile-parse), every
RUN line of which is still valid shell (`bash -n`), and cell ids safe as directory names.
"""

from __future__ import annotations

import io
import json
import re
import subprocess

from dockerfile_parse import DockerfileParser
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import ReproMatrixError
from repromatrix.infra.setupcache import SCENARIO_FROM
from repromatrix.plan.plan import RenderContext, plan_cell
from repromatrix.plan.render import checks_json, render_dockerfile

# field → (YAML with {v} where the value goes, a harmless value)
FIELDS = {
    "target.package": ("target: {{package: {v}}}\naxes: {{prior: ['2.15.0']}}\n", "tensorflow"),
    "target.version": ("target: {{version: {v}}}\naxes: {{}}\n", ">=2.16"),
    "target.index": ("target: {{index: {v}}}\naxes: {{}}\n", "https://idx.example/simple"),
    "target.imports": ("target: {{imports: [{v}]}}\naxes: {{}}\n", "tensorflow"),
    "axes.os": ("axes: {{os: [{v}]}}\n", "bookworm"),
    "axes.prior": ("axes: {{prior: [{v}]}}\n", "2.15.0"),
    "axes.pip": ("axes: {{pip: [{v}]}}\n", "23.0"),
    "axes.python": ("axes: {{python: [{v}]}}\n", "3.12"),
    "include.os": ("axes: {{os: [bookworm]}}\ninclude: [{{os: {v}, install: system}}]\n", "trixie"),
    "checks.name": ("axes: {{}}\nchecks: [{{name: {v}, python: 'print(1)'}}]\n", "smoke"),
    "checks.python": ("axes: {{}}\nchecks: [{{name: c, python: {v}}}]\n", "print(1)"),
    "checks.run": ("axes: {{}}\nchecks: [{{name: c, run: {v}}}]\n", "python3 -V"),
    "settings.debian_mirror": ("axes: {{}}\nsettings: {{debian_mirror: {v}}}\n", "http://idx.example/debian"),
    "settings.timeout": ("axes: {{}}\nsettings: {{timeout: {v}}}\n", "600"),
    "settings.max_parallel": ("axes: {{}}\nsettings: {{max_parallel: {v}}}\n", "2"),
    "target.pre": ("target: {{pre: {v}}}\naxes: {{}}\n", "true"),
    "axes.install": ("axes: {{install: [{v}]}}\n", "user-venv"),
    "axes.network": ("axes: {{network: [{v}]}}\n", "proxy"),
    "axes.ca": ("axes: {{ca: [{v}]}}\n", "none"),
    "axes.cache": ("axes: {{cache: [{v}]}}\n", "corrupted"),
    "axes.conflicts": ("axes: {{conflicts: [{v}]}}\n", "constraints"),
    "exclude.os": ("axes: {{os: [bookworm, trixie]}}\nexclude: [{{os: {v}}}]\n", "trixie"),
    "expect.outcome": ("axes: {{}}\nexpect: [{{outcome: {v}}}]\n", "upgraded"),
    "version": ("version: {v}\naxes: {{}}\n", "1"),
}
HOSTILE = st.text(alphabet=st.sampled_from(list("\"'\\$`;&|<>(){}[]#=~*?! \n\r\t\x00\x1b\u202e\u2028\x7f") +
                                           list("abc019.-_/:@+,%")), min_size=1, max_size=30)
ATTACKS = st.sampled_from(['"', "\\", "$(id)", "${HOME}", "`id`", "\n2.15.0", "2.15.0\r\n", "\x1b[31m", "x\\",
                           '" && touch /tmp/pwned && "', "';id;'", "\nRUN id", "\u202e", "\x00", "===x", "$PATH"])


def values(harmless: str) -> st.SearchStrategy[str]:
    return st.one_of(HOSTILE, ATTACKS, st.tuples(ATTACKS, HOSTILE).map("".join),
                     st.tuples(st.just(harmless), st.one_of(ATTACKS, HOSTILE)).map("".join),
                     st.tuples(st.one_of(ATTACKS, HOSTILE), st.just(harmless)).map("".join))


def dockerfiles(tmp_path, template: str, value: str) -> list[str] | None:
    """The rendered Dockerfiles of the matrix with `value`; None if it was refused. Checks on the way
    that what Docker will read is exactly the data: the ENV values (as Docker parses them) equal the
    plan's, checks.json holds the checks, cell ids are safe directory names."""
    path = tmp_path / "m.yaml"
    path.write_text(template.format(v=json.dumps(value)), encoding="utf-8")  # a YAML double-quoted scalar
    try:
        matrix = load_matrix(path)
        cells = expand(matrix)
    except ReproMatrixError:
        return None
    ctx = RenderContext(target=matrix.target, checks=matrix.checks, index_url="https://idx.example/simple/")
    out = []
    for cell in cells:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", cell.id), cell.id  # safe as a directory name
        plan = plan_cell(cell, ctx)
        text = render_dockerfile(plan, ctx)
        # The scenario stage starts FROM the setup stage and inherits its ENV, as Docker does; the
        # parser resets ENV at each FROM, so it reads the two stages as one.
        one_stage = text.replace(f"\n{SCENARIO_FROM}\n", "\n")
        assert one_stage.count("\nFROM ") == text.count("\nFROM ") - 1
        envs = DockerfileParser(fileobj=io.BytesIO(one_stage.encode())).envs
        assert {k: envs.get(k) for k in ("REPROMATRIX_PACKAGE", "REPROMATRIX_UPGRADE", "REPROMATRIX_IMPORTS",
                                        "PIP_INDEX_URL")} == {
            "REPROMATRIX_PACKAGE": matrix.target.name, "REPROMATRIX_UPGRADE": plan.upgrade_command,
            "REPROMATRIX_IMPORTS": " ".join(matrix.target.imports), "PIP_INDEX_URL": "https://idx.example/simple/"}
        assert json.loads(checks_json(plan)) == [c.to_json() for c in plan.checks]  # checks stay JSON data
        out.append(text)
    return out


def structure(text: str) -> list[tuple[str, str]]:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    return [(i["instruction"], i["value"]) for i in parser.structure]


def same_shape(hostile: str, twin: str) -> None:
    got, want = structure(hostile), structure(twin)
    assert [i for i, _ in got] == [i for i, _ in want]
    for (instruction, value), (_, twin_value) in zip(got, want, strict=True):
        if instruction == "ENV":  # the same variables are set, whatever their values
            assert re.findall(r"(?:^|\s)([A-Z_]+)=", value) == re.findall(r"(?:^|\s)([A-Z_]+)=", twin_value)
        if instruction == "RUN" and value != twin_value:
            proc = subprocess.run(["bash", "-n", "-c", value], capture_output=True, text=True)
            assert proc.returncode == 0, (value, proc.stderr)


def check_field(tmp_path, field: str, value: str) -> None:
    template, harmless = FIELDS[field]
    twin = dockerfiles(tmp_path, template, harmless)
    assert twin is not None, f"the harmless {field} {harmless!r} must be accepted"
    rendered = dockerfiles(tmp_path, template, value)
    if rendered is None:
        return
    assert len(rendered) == len(twin)
    for hostile_text, twin_text in zip(rendered, twin, strict=True):
        same_shape(hostile_text, twin_text)
        assert "\x00" not in hostile_text and "\x1b" not in hostile_text


# Valid values full of characters a shell or Dockerfile would interpret: they must be accepted
# and still change nothing but data.
ACCEPTED = {
    "target.package": ["tensorflow; python_version > \"3\" and platform_machine != 'x$y'",
                       "tensorflow[and-cuda]; sys_platform == 'linux'"],
    "target.version": [">=2.16,!=2.17.*,<3"],
    "checks.run": ["python3 -c 'print(\"$HOME `id`\")' ; rm -rf /"],
    "checks.python": ["import os\nos.system('id')  # \"$(id)\" `id` \\"],
}


def _test(field: str):  # noqa: ANN202 - one Hypothesis test per field
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=values(FIELDS[field][1]))
    def test(tmp_path, value):
        check_field(tmp_path, field, value)

    for value in ACCEPTED.get(field, []):
        test = example(value=value)(test)

    test.__name__ = f"test_hostile_{field.replace('.', '_')}_is_data"
    return test


for _field in FIELDS:
    globals()[f"test_hostile_{_field.replace('.', '_')}_is_data"] = _test(_field)


def test_values_full_of_shell_characters_are_accepted(tmp_path):
    for field, accepted in ACCEPTED.items():
        for value in accepted:
            assert dockerfiles(tmp_path, FIELDS[field][0], value) is not None, (field, value)


def test_a_hostile_value_that_is_accepted_stays_quoted(tmp_path):
    # A check snippet may contain anything: it goes to checks.json, never into the Dockerfile.
    template, _ = FIELDS["checks.python"]
    rendered = dockerfiles(tmp_path, template, '"; touch /tmp/pwned; echo "$(id)`id`')
    assert rendered is not None and "pwned" not in rendered[0]
