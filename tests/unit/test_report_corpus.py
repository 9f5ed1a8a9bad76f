"""`init --from` replayed on every real report in tests/data/reports, scored field by field
against what a maintainer read in each by hand (fields.yaml): at least 90% of the fields right
and no false statement (a value stated as the report's, or a sentence, that the report
contradicts). `python -m tests.unit.test_report_corpus` prints the table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from repromatrix.intake.draft import Draft
from repromatrix.intake.init import matrix_from
from repromatrix.intake.reading import FIELDS

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports"
TRUTH: dict[str, dict[str, Any]] = yaml.safe_load((REPORTS / "fields.yaml").read_text())
SCORED = (*FIELDS, "environment")
# Sentences that say a report is silent on a field: false where the report speaks of it
SILENT = {
    "os": "the report names no OS",
    "python": "the report names no Python",
    "prior": "the report shows no installed version",
    "pip": "the report shows no pip version",
    "package": "the report shows no install command",
}


@dataclass
class Score:
    report: str
    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # missed, or a question with another value
    false: list[str] = field(default_factory=list)  # stated as the report's, and contradicted

    @property
    def total(self) -> int:
        return len(self.right) + len(self.wrong) + len(self.false)


def _accepted(truth: Any) -> list[str | None]:
    values = truth if isinstance(truth, list) else [truth]
    return [None if v is None else str(v) for v in values]


def _fits(value: str | None, accepted: list[str | None], name: str) -> bool:
    """Does the value read fit what the maintainer read? 'windows'/'macos' as a platform: any
    of that system's (the report does not say which); other:NAME by its first word."""
    for want in accepted:
        if want is None or value is None:
            if want is value:
                return True
            continue
        if name == "platform" and want in ("windows", "macos") and value.startswith(want + "-"):
            return True
        if name == "os" and want.startswith("other:") and value.startswith("other:"):
            first = want.removeprefix("other:").split()[0].lower()
            if value.removeprefix("other:").lower().startswith(first):
                return True
        if value == want:
            return True
    return False


def score(report: str) -> tuple[Score, Draft, str]:
    written = matrix_from([str(REPORTS / report)])
    text, decided = written.text, written.drafts[0]
    truth = TRUTH[report]
    s = Score(report)
    for name in FIELDS:
        fact = decided.reading[name]
        value = fact.value
        if name == "conda":
            value = "true" if value is not None else None
        accepted = _accepted(truth[name])
        if name == "conda":
            accepted = ["true" if v == "True" else None for v in accepted]
        if _fits(value, accepted, name):
            s.right.append(name)
            continue
        # a platform the report does not say (windows/macos), stated as known, is false
        said = f"{name}: {value!r} (the report: {truth[name]!r})"
        (s.false if fact.sure and value is not None else s.wrong).append(said)
    pins = {pin for pin, _ in decided.environment}
    wanted = set(truth.get("environment") or [])
    (s.right if wanted <= pins else s.wrong).append(
        "environment" if wanted <= pins else f"environment: missing {sorted(wanted - pins)}"
    )
    flat = " ".join(" ".join(ln.strip().removeprefix("#") for ln in text.splitlines()).split())
    for name, sentence in SILENT.items():
        if sentence in flat and truth[name] not in (None, "newest"):
            s.false.append(f"says '{sentence}'")
    for sentence in truth.get("never") or []:
        if sentence in flat:
            s.false.append(f"says '{sentence}'")
    return s, decided, text


CORPUS = sorted(p.name for p in REPORTS.glob("*.md") if p.name != "README.md")


def test_every_report_is_annotated_and_cites_its_source():
    assert sorted(TRUTH) == CORPUS
    assert len(CORPUS) >= 20
    for name in CORPUS:
        assert (REPORTS / name).read_text().startswith("<!-- source: "), name
        assert set(SCORED) - {"environment"} <= set(TRUTH[name]), name


def table(scores: list[Score]) -> str:
    rows = ["| report | right | of | false | missed or asked otherwise |", "|---|---|---|---|---|"]
    for s in scores:
        rows.append(
            f"| {s.report} | {len(s.right)} | {s.total} | {len(s.false)} | "
            f"{'; '.join(s.wrong + s.false) or '—'} |"
        )
    right = sum(len(s.right) for s in scores)
    total = sum(s.total for s in scores)
    rows.append(f"| **all {len(scores)}** | {right} | {total} | "
                f"{sum(len(s.false) for s in scores)} | {100 * right / total:.1f}% right |")
    return "\n".join(rows)


def test_the_corpus_is_read_right_and_never_falsely():
    scores = [score(name)[0] for name in CORPUS]
    right = sum(len(s.right) for s in scores)
    total = sum(s.total for s in scores)
    false = [f"{s.report}: {f}" for s in scores for f in s.false]
    assert not false, table(scores)
    assert right / total >= 0.9, table(scores)


@pytest.mark.parametrize("name", CORPUS)
def test_each_report_states_nothing_false(name):
    s, _, _ = score(name)
    assert not s.false, s.false


if __name__ == "__main__":
    print(table([score(name)[0] for name in CORPUS]))
