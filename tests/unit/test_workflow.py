"""The CI files keep their contract: valid against GitHub's and GitLab's schemas (SchemaStore's, as
check-jsonschema vendors them), and `list --json --shards` output feeds them as written."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from repromatrix.cli import _parser, main
from repromatrix.config.shard import parse_shard
from repromatrix.pipeline.prepare import RunOptions, load_cells, prepare
from tests.conftest import REPO

GITHUB = REPO / ".github/workflows/nightly.yml"
GITLAB = REPO / "examples/ci/gitlab-ci.yml"


@pytest.mark.parametrize(("path", "schema"), [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_the_ci_files_are_valid(path, schema):
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def steps_of(flow, job):
    return flow["jobs"][job]["steps"]


def script(steps):
    return "\n".join(s.get("run", "") for s in steps)


def matrix_args(line: str, values: dict[str, str]) -> list[str]:
    """The `repromatrix run` arguments of a `nox -s matrix -- ...` line, with CI's values filled in."""
    for name, value in values.items():
        line = line.replace(name, value)
    words = shlex.split(line.split("nox -s matrix --", 1)[1].split(";")[0])
    return ["run", "--matrix", "matrix.yaml", *words]


def plan_for(tmp_path, shards: int):
    listed = subprocess.run([sys.executable, "-m", "repromatrix", "list", "--matrix", "matrix.yaml", "--shards",
                             str(shards), "--json", "--out", str(tmp_path / "none")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_the_nightly_fans_out_over_the_plan_as_written(tmp_path, monkeypatch):
    flow = yaml.safe_load(GITHUB.read_text())
    assert "schedule" in flow[True]  # YAML 1.1 reads the key `on` as True
    plan_steps, shard, merge = steps_of(flow, "plan"), flow["jobs"]["shard"], steps_of(flow, "merge")
    assert 'repromatrix list --matrix matrix.yaml --shards "$SHARDS" --json' in script(plan_steps)
    assert 'echo "matrix=$(cat shard-plan.json)" >> "$GITHUB_OUTPUT"' in script(plan_steps)
    assert shard["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert flow["jobs"]["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"

    # The plan step's output, as GITHUB_OUTPUT takes it: one line, `matrix=` then JSON.
    text = plan_for(tmp_path, 3)
    assert text.count("\n") == 1
    matrix = json.loads(text)
    assert list(matrix) == ["include"]  # no other key: it would become an axis and multiply the jobs
    (tmp_path / "shard-plan.json").write_text(text)
    line = next(x for x in script(steps_of(flow, "shard")).splitlines() if "nox -s matrix --" in x)
    monkeypatch.chdir(REPO)
    ran = []
    for entry in matrix["include"]:
        args = matrix_args(line, {"${{ matrix.shard }}": entry["shard"]})
        parsed = _parser().parse_args(args)  # the command line the job runs is one the CLI takes
        assert parsed.shard == parse_shard(entry["shard"])
        prepared = prepare(RunOptions(parsed.matrix, shard=parsed.shard, shard_plan=tmp_path / parsed.shard_plan,
                                       out=tmp_path / "reports"))
        assert [c.id for c in prepared.todo] == entry["ids"]
        ran += entry["ids"]
    listed = json.loads(subprocess.run([sys.executable, "-m", "repromatrix", "list", "--matrix", "matrix.yaml",
                                        "--json"], capture_output=True, text=True, cwd=REPO).stdout)
    assert sorted(ran) == sorted(c["id"] for c in listed)

    uses = [s.get("uses", "") for s in shard["steps"]]
    assert any(u.startswith("actions/download-artifact") for u in uses)
    upload = next(s for s in shard["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in merge if s.get("uses", "").startswith("actions/download-artifact"))
    # The merge downloads every shard's run and not the plan.
    assert re.fullmatch(download["with"]["pattern"].replace("[0-9]*", r"[0-9].*"), "shard-0")
    assert not re.fullmatch(download["with"]["pattern"].replace("[0-9]*", r"[0-9].*"), "shard-plan")
    assert upload["with"]["name"] == "shard-${{ strategy.job-index }}"
    assert "repromatrix merge shards/*/ --out reports" in script(merge)
    post = next(s for s in merge if "gh issue" in s.get("run", ""))
    assert post["if"] == "steps.merge.outputs.exit == '1'" and "summary.md" in post["env"]["SUMMARY"]
    assert any(s.get("uses", "").startswith("actions/cache/save") for s in merge)


def test_the_gitlab_example_numbers_its_jobs_as_shards(tmp_path, monkeypatch):
    flow = yaml.safe_load(GITLAB.read_text())
    count = flow["shard"]["parallel"]
    assert flow["variables"]["SHARDS"] == str(count)  # the plan and the jobs agree on N
    assert count <= 200  # GitLab's limit for parallel
    text = plan_for(tmp_path, count)
    (tmp_path / "shard-plan.json").write_text(text)
    line = next(x for x in flow["shard"]["script"] if "nox -s matrix --" in x)
    monkeypatch.chdir(REPO)
    for entry in json.loads(text)["include"]:
        index, _, total = entry["shard"].partition("/")
        args = matrix_args(line, {"$CI_NODE_INDEX": index, "$CI_NODE_TOTAL": total})
        parsed = _parser().parse_args(args)
        prepared = prepare(RunOptions(parsed.matrix, shard=parsed.shard, shard_plan=tmp_path / parsed.shard_plan,
                                       out=tmp_path / "reports"))
        assert [c.id for c in prepared.todo] == entry["ids"]
    assert any("repromatrix merge shards/*/" in x for x in flow["merge"]["script"])


def test_list_shards_prints_a_readable_plan(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["list", "--matrix", "examples/causes.yaml", "--shards", "3"]) == 0
    out = capsys.readouterr().out
    cells = load_cells(REPO / "examples" / "causes.yaml")[1]
    assert out.startswith("shard 1/3: ") and "machine-minutes" in out and out.count("\n  ") == len(cells)
