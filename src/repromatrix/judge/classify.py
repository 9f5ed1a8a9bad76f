"""Stage 5: decide a cell's `Outcome` from what was observed, with the deciding lines.

Pure: input is an `Observation` (build log, the scenario's record, container status),
output a `Verdict`. Rules are data, matched against pip's own words; the field guide
(shared/reference) lists those words per pip version.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from packaging.utils import canonicalize_name

from ..cell.contract import CheckRun, ImportCheck, Record, Run, Step
from ..cell.observation import Observation
from ..core.outcomes import Outcome
from ..core.result import Verdict
from ..installers import Installer, Rule, installer
from .changes import broken_around, changes
from .facts import resolution_facts, same_version, version_facts
from .index import Releases, as_version
from .triage import resolved_here
from .wheelmatch import platform_kind

PIP = installer("pip")  # until a cell names another installer

MAX_EVIDENCE = 6


# A record without an import check (an old scenario's): nothing is known to have failed.
NOT_CHECKED = ImportCheck(
    ok=True, version=None, error=None, failed=None, names=(), dist_version=None, json={}
)


def _evidence(rule: Rule, text: str) -> tuple[str, ...]:
    """The last deciding line (pip repeats them per retry), then the lines that show more."""
    deciding = _lines_matching(text, [re.compile(rule.decides)], limit=None)[-1:]
    shown = _lines_matching(text, [re.compile(p) for p in rule.shows])
    return (deciding + tuple(line for line in shown if line not in deciding))[:MAX_EVIDENCE]


ERROR_LINE = re.compile(r"^(ERROR|error|E):|Error:|Exception")


def _lines_matching(
    text: str, patterns: list[re.Pattern[str]], limit: int | None = MAX_EVIDENCE
) -> tuple[str, ...]:
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line and line not in out and any(p.search(line) for p in patterns):
            out.append(line)
    return tuple(out[:limit])


def _last_lines(text: str, n: int = 3) -> tuple[str, ...]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return tuple(lines[-n:])


def classify(obs: Observation, releases: Releases | None = None, by: Installer = PIP) -> Verdict:
    """The cell's outcome and its evidence, in the words of `by`, the installer that ran."""
    if obs.interrupted:
        return Verdict(
            Outcome.INTERRUPTED,
            (obs.infra_reason or "the run was interrupted while this cell ran",),
        )
    if obs.infra_reason:
        return Verdict(Outcome.INFRA_ERROR, (obs.infra_reason,))
    if not obs.build_ok:
        return _build_failure(obs)
    if obs.record_error:
        said = f"the cell's scenario printed a record that is not one: {obs.record_error}"
        return Verdict(Outcome.INFRA_ERROR, (said,) + _last_lines(obs.output))
    record = obs.record
    if record is None:
        why = "timed out" if obs.timed_out else f"exited {obs.exit_code} without a record"
        return Verdict(
            Outcome.INFRA_ERROR, (f"the cell's container {why}",) + _last_lines(obs.output)
        )
    if record.setup_failed:
        # Setup that needs the index's credentials ran when the container started.
        output = record.setup[-1].output if record.setup else ""
        return Verdict(
            Outcome.SETUP_FAILED, _lines_matching(output, [ERROR_LINE]) or _last_lines(output)
        )
    if record.resolution is not None:
        return _resolution(record, releases, by)
    if record.triage:
        return _triage(record, releases, by)
    facts = version_facts(record, releases)
    if record.before_failed:
        return _step_failure(record, facts, by)
    upgrade = record.upgrade
    if upgrade is None:
        stopped = ("the cell's record has no upgrade: the scenario stopped before it",)
        return Verdict(Outcome.INFRA_ERROR, stopped + _last_lines(obs.output))
    failed = upgrade.exit_code != 0
    verdict = _failure(upgrade, facts, by) if failed else _success(record, upgrade, facts, by)
    refined = _why_no_match(verdict, record, releases)
    if refined is not verdict:
        return refined
    if facts.get("old_pip") and verdict.outcome in (
        Outcome.NO_MATCHING_DISTRIBUTION,
        Outcome.NOT_UPGRADED,
    ):
        return Verdict(verdict.outcome, verdict.evidence + (facts["old_pip"],), facts)
    if verdict.outcome is not Outcome.REMOVED_PACKAGE and (
        stone := _discarded_tombstone(upgrade.output, by)
    ):
        # pip 20.3 discards a release whose metadata cannot be built and takes an older one: the
        # cell's outcome is what that older one did, and the evidence says why it was taken.
        return Verdict(verdict.outcome, verdict.evidence + stone, facts)
    return verdict


def _foreign_platform(record: Record, releases: Releases | None) -> str:
    """When no release of the target has a wheel of a kind this interpreter accepts (an i686 or musl
    interpreter against x86_64 glibc wheels), what the two are; '' when some would fit or we cannot
    tell."""
    runtime = record.runtime
    resolved = record.resolution
    accepted = runtime.tags.platforms if runtime and runtime.tags else ()
    if resolved is not None:
        accepted = resolved.tags.platforms if resolved.tags else ()
    # any release of the project, not only the target's range: pip listing older versions
    # (torch==2.5.1 on an Intel Mac lists up to 2.2.2) is no-matching-distribution
    offered = releases.offered_platforms() if releases else frozenset()
    if not accepted or not offered or "any" in offered:
        return ""
    # platform.libc_ver() names glibc; on musl it is empty. Unknown (older records): glibc, the
    # usual case.
    musl = runtime is not None and runtime.glibc is not None and not runtime.glibc.strip()
    if resolved is not None:  # the platform's own libc, not the resolver's
        musl = any(p.startswith("musllinux") for p in accepted)
    mine = {platform_kind(p, musl) for p in accepted} - {"any"}
    theirs = {platform_kind(p) for p in offered}
    if mine & theirs:
        return ""
    where = resolved.describe.split(", CPython")[0] if resolved else "this interpreter's platform"
    return (
        f"no release of {record.package} has a wheel for {where} "
        f"({', '.join(sorted(mine))}); the index's wheels are for {', '.join(sorted(theirs))}"
    )


def _why_no_match(verdict: Verdict, record: Record, releases: Releases | None) -> Verdict:
    """pip's "No matching distribution" says what it saw, not why: the index has no such project
    at all, or no release of it has a wheel for the platform; else the verdict as it is."""
    if verdict.outcome is not Outcome.NO_MATCHING_DISTRIBUTION:
        return verdict
    if releases is not None and releases.missing:
        said = (
            f"the index has no project named {record.package}: its page answers 404 Not Found, "
            "so no release of any version, for any platform, exists there"
        )
        return Verdict(Outcome.NO_SUCH_PROJECT, (said,) + verdict.evidence, verdict.facts)
    if foreign := _foreign_platform(record, releases):
        return Verdict(Outcome.UNSUPPORTED_PLATFORM, (foreign,) + verdict.evidence, verdict.facts)
    return verdict


def _resolution(record: Record, releases: Releases | None, by: Installer) -> Verdict:
    """A resolved cell: what the installer's dry run for the platform says it would take, or why
    it took nothing, in its own words. Never that anything was installed or imported."""
    resolved = record.resolution
    upgrade = record.upgrade
    assert resolved is not None
    if upgrade is None:
        stopped = ("the cell's record has no resolution: the scenario stopped before it",)
        return Verdict(Outcome.INFRA_ERROR, stopped)
    facts = resolution_facts(record, releases)
    if upgrade.exit_code != 0:
        return _why_no_match(_failure(upgrade, facts, by), record, releases)
    taken = facts.get("resolved")
    if not taken:
        said = _last_lines(upgrade.output, 2)
        return Verdict(
            Outcome.UNKNOWN_FAILURE,
            (f"{by.name} exited 0 but said nothing of {record.package} it would take",) + said,
            facts,
        )
    where = resolved.describe
    if held := _held_back(record, facts.get("newest_for_python")):
        return Verdict(Outcome.HELD_BACK, (_held_head(record, taken, where),) + held[1:], facts)
    file = f" ({facts['resolved_file']})" if facts.get("resolved_file") else ""
    head = (
        f"resolved for {where}, not installed: {by.name} would take {record.package} {taken}{file}"
    )
    would = _lines_matching(upgrade.output, [re.compile(r"^Would install")], limit=1)
    more = tuple(facts[k] for k in ("below_newest", "placeholder") if facts.get(k))
    return Verdict(Outcome.RESOLVED, (head,) + more + tuple(_focus_would(w) for w in would), facts)


def _triage(record: Record, releases: Releases | None, by: Installer) -> Verdict:
    """`run --triage`: what the upgrade's dry run in the cell's own environment said. An
    installer resolves before it installs anything, so a dry run that fails fails as the upgrade
    would: that is the cell's outcome. One that resolves leaves the rest to the install."""
    facts = version_facts(record, releases)
    upgrade = record.upgrade
    if upgrade is None:
        said = f"--triage: {by.name} has no dry run of this upgrade, so only the install can say"
        return Verdict(Outcome.NEEDS_INSTALL, (said,), facts)
    cannot = re.search(by.no_dry_run, upgrade.output)
    if upgrade.exit_code != 0 and not cannot:
        verdict = _why_no_match(_failure(upgrade, facts, by), record, releases)
        said = (
            f"--triage: decided by the dry run alone: {by.name} failed before installing "
            "anything, where the upgrade fails too (it resolves first)"
        )
        return Verdict(verdict.outcome, verdict.evidence + (said,), verdict.facts)
    if cannot:
        version = by.version_of(record.pip)
        who = f"{by.name} {version}" if version else f"the {by.name} its command runs"
        said = f"--triage: {who} has no --dry-run (pip added it in 22.2): only the install can say"
        quoted = _lines_matching(upgrade.output, [re.compile(by.no_dry_run)], limit=1)
        return Verdict(Outcome.NEEDS_INSTALL, (said,) + quoted, facts)
    return Verdict(Outcome.NEEDS_INSTALL, resolved_here(record, upgrade, facts, by), facts)


def _held_head(record: Record, taken: str, where: str) -> str:
    """The held-back verdict's first line for a resolution: what stops the newest there."""
    probe = record.held_back
    assert probe is not None
    forced = _held_back(record, None)[0].split(": ", 1)[-1]
    return (
        f"resolved for {where}, not installed: pip would take {record.package} {taken}, not "
        f"{probe.newest}, which has files for it: {forced}"
    )


def _focus_would(line: str) -> str:
    """pip's 'Would install a-1 b-2 ...' as a count, uv's as it is."""
    words = line.split()[2:]
    return f"Would install {len(words)} distributions" if len(words) > 3 else line


def _discarded_tombstone(output: str, by: Installer) -> tuple[str, ...]:
    if not re.search(by.removed, output):
        return ()
    said = _lines_matching(output, [re.compile(by.removed)], limit=2)
    discarded = [
        re.sub(r"#sha256=\w+", "", line).split(" (from ")[0]
        for line in _lines_matching(output, [re.compile(r"^WARNING: Discarding ")], limit=1)
    ]
    return tuple(discarded) + said


def _step_failure(record: Record, facts: dict[str, Any], by: Installer) -> Verdict:
    """A remedy's step before the upgrade failed (so the upgrade never ran): why, in the
    installer's words."""
    step = record.before_steps[-1] if record.before_steps else Step("root", (), "", 0, "", False)
    failed = _failure(step.as_run(), facts, by)
    said = f"the step `{shlex.join(step.argv)}` exited {step.exit_code}; the upgrade did not run"
    return Verdict(
        failed.outcome,
        (said,) + tuple(e for e in failed.evidence if not e.startswith(f"{by.name} exited")),
        facts,
    )


def _build_failure(obs: Observation) -> Verdict:
    tail = obs.build_log.split("\nStep ")[-1]  # the failed step's own output
    if obs.setup_failed:
        lines = _lines_matching(tail, [ERROR_LINE]) or _last_lines(tail)
        return Verdict(Outcome.SETUP_FAILED, lines)
    return Verdict(Outcome.INFRA_ERROR, ("image build failed",) + _last_lines(tail))


def _failure(upgrade: Run, facts: dict[str, Any], by: Installer) -> Verdict:
    """The installer exited non-zero: the first of its rules that its output matches."""
    output = upgrade.output
    if upgrade.timed_out:
        backtracking = _lines_matching(output, [re.compile(by.backtracking)])
        if backtracking:  # it was still choosing versions when its time ran out
            seconds = round(upgrade.seconds)
            said = f"{by.name} was still backtracking when it was killed after {seconds} s"
            tried = len(re.findall(r"(?m)^\s*(?:Downloading|Using cached) ", output))
            return Verdict(
                Outcome.RESOLVER_BACKTRACKING,
                (said,) + backtracking[-2:] + (f"{tried} candidate files fetched by then",),
                facts,
            )
        killed = ("the upgrade was killed at the cell's timeout",)
        return Verdict(Outcome.INFRA_ERROR, killed + _last_lines(output), facts)
    if upgrade.exit_code in (-9, 137):  # SIGKILL, not our timer: the kernel's OOM killer
        limit = facts.get("memory_limit")
        at = f", at the container's memory limit of {limit}" if limit else ""
        # Nothing that varies from run to run (when it was killed, what it had printed by then):
        # shards and reruns of one cell must say the same.
        return Verdict(
            Outcome.OUT_OF_MEMORY,
            (f"{by.name} was killed by SIGKILL: the kernel's OOM killer{at}",),
            facts,
        )
    for rule in by.rules:
        if re.search(rule.decides, output):
            evidence = _evidence(rule, output)
            says_cached = by.cached is not None  # uv does not say where a file came from
            if (
                rule.outcome is Outcome.HASH_MISMATCH
                and says_cached
                and not re.search(by.cached or "", output)
            ):
                # Not from the cache: the transfer itself was cut or altered (pip < 25 does
                # not notice a short read and reports the hash of what arrived).
                evidence += (
                    f"the file was downloaded just now, not taken from {by.name}'s cache: the "
                    "transfer was cut short or altered on the way",
                )
            return Verdict(rule.outcome, evidence, facts)
    lines = _lines_matching(output, [ERROR_LINE]) or _last_lines(output)
    said = f"{by.name} exited {upgrade.exit_code}"
    return Verdict(Outcome.UNKNOWN_FAILURE, (said,) + lines, facts)


def _damaged(record: Record) -> tuple[str, ...]:
    """'tensorflow/__init__.py differs from the sha256 in tensorflow 2.21.0's RECORD' per file."""
    whose = f"{record.package} {record.after}'s RECORD"
    return tuple(f"{path} differs from the sha256 in {whose}" for path in record.damaged)


def _success(record: Record, upgrade: Run, facts: dict[str, Any], by: Installer) -> Verdict:
    """The installer exited 0: did the upgrade land, import, agree between identities, hold
    together?"""
    output = upgrade.output
    package = record.package
    imported = record.imports or NOT_CHECKED
    # A target whose marker does not match this cell: pip installs nothing, says so, and exits 0.
    ignored = _lines_matching(
        output, [re.compile(r"^Ignoring \S+: markers .* don't match your environment")]
    )
    if ignored and record.before == record.after:
        return Verdict(Outcome.NOT_UPGRADED, ignored, facts)
    failed = (
        () if imported.ok else (f"import {imported.failed or package} failed: {imported.error}",)
    )
    if wrong := _wrong_interpreter(record):
        landed = tuple(
            _focus(line, package)
            for line in _lines_matching(output, [re.compile(r"^Successfully inst")])
        )
        return Verdict(Outcome.WRONG_INTERPRETER, (wrong,) + landed + failed, facts)
    if shared := _shared_directory(record):
        invalid = _lines_matching(output, [re.compile(r"Ignoring invalid distribution")])
        return Verdict(Outcome.SHARED_DIRECTORY, shared + failed + invalid, facts)
    # What no longer imports around it: often the cause (TensorFlow imports Keras, which
    # imports a pandas built for NumPy 1), in each module's own words
    around_it = tuple(b.said for b in broken_around(record))
    if failed and record.damaged:
        return Verdict(Outcome.DAMAGED_INSTALL, _damaged(record) + failed, facts)
    if failed:
        evidence = _placeholder(record, facts) + failed + around_it
        return Verdict(Outcome.IMPORT_ERROR, evidence[:MAX_EVIDENCE], facts)
    if mismatch := version_mismatch(imported):
        return Verdict(Outcome.IMPORT_ERROR, (mismatch,), facts)
    split = _split_views(record)
    if split:
        # Upstream pip says "Defaulting to user installation"; Debian's pip 20.3 switches silently.
        landed = _lines_matching(
            output, [re.compile(r"Defaulting to user installation|^Successfully installed")]
        )
        return Verdict(
            Outcome.SPLIT_INSTALL, tuple(_focus(line, package) for line in landed) + (split,), facts
        )
    before, after = record.before, record.after
    unchanged = before is not None and (same_version(before, after) or before == after)
    failed_checks = [c for c in record.checks if c.exit_code != 0]
    if failed_checks and not unchanged:
        earlier = {(c.name, c.identity): c for c in record.checks_before}
        evidence = tuple(
            _check_evidence(c, earlier.get((c.name, c.identity))) for c in failed_checks
        )
        return Verdict(Outcome.CHECK_FAILED, evidence[:MAX_EVIDENCE], facts)
    # Libraries around the target that imported before and no longer do: pip's check does not
    # see a compiled companion built for the old TensorFlow or NumPy, whose pin is too loose.
    broken_around_it = () if unchanged else around_it
    check = record.pip_check
    check_failed = check is not None and check.exit_code != 0
    if broken_around_it and not check_failed:
        return Verdict(Outcome.UPGRADED_INCONSISTENT, broken_around_it[:MAX_EVIDENCE], facts)
    if check is not None and check_failed:
        resolver = _lines_matching(
            output,
            [
                re.compile(r"dependency resolver does not currently take into account"),
                re.compile(r" requires .*, but you have "),
            ],
        )
        broken = _lines_matching(check.output, [by.broken])
        # The first line names the library that holds the upgrade back, in the installer's words
        naming = tuple(line for line in resolver if " requires " in line)
        ordered = naming + tuple(line for line in resolver if line not in naming)
        said = ordered or broken or _last_lines(check.output, 4)
        return Verdict(
            Outcome.UPGRADED_INCONSISTENT, (said + broken_around_it)[:MAX_EVIDENCE], facts
        )
    if held := _held_back(record, facts.get("newest_for_python")):
        return Verdict(Outcome.HELD_BACK, held, facts)
    if unchanged:
        already = re.compile(by.kept.replace("{package}", re.escape(package)))
        noop = _lines_matching(output, [already])
        return Verdict(Outcome.NOT_UPGRADED, noop or (f"{package} stayed at {before}",), facts)
    # pip says it in one line, uv one line a package (" + tensorflow==2.21.0"): the target's
    installed = _lines_matching(output, [re.compile(by.installed)], limit=None)
    # Any spelling of the name (tf_nightly, tf-nightly, TF.Nightly: PEP 503 says they are one)
    name = "[-_.]+".join(re.escape(part) for part in re.split(r"[-_.]+", package))
    mine = re.compile(rf"(?i)(?:^\+ {name}==|\s{name}-\d)")  # uv's line, or pip's word
    own = [line for line in installed if mine.search(line)] or list(installed[:1])
    done = tuple(_focus(line, package) for line in own)
    evidence = done + tuple(facts[k] for k in ("below_newest", "prerelease") if facts.get(k))
    return Verdict(Outcome.UPGRADED, evidence or (f"{package} {before} → {after}",), facts)


def _placeholder(record: Record, facts: dict[str, Any]) -> tuple[str, ...]:
    """A target that installed but has no importable module is a placeholder (tensorflow-intel
    0.0.1 on Linux, "A dummy package"): say so first, and what it pulled in, not only that the
    import failed."""
    imported = record.imports
    # An older scenario's record names no modules at all: not a placeholder, just not said
    said_none = imported is not None and "names" in imported.json and not imported.names
    installed_nothing = said_none and record.after is not None
    if not installed_nothing:
        return ()
    itself = canonicalize_name(record.package)
    added = (c for c in changes(record) if c.kind == "added")
    pulled = [f"{c.name} {c.after}" for c in added if canonicalize_name(c.name) != itself]
    also = f"; it pulled in {', '.join(pulled)}" if pulled else ""
    said = (
        f"{record.package} {record.after} installs no importable module: a placeholder "
        f"release, not the package itself{also}"
    )
    elsewhere = facts.get("placeholder")
    return (said, elsewhere) if elsewhere else (said,)


def _wrong_interpreter(record: Record) -> str:
    """'`pip` is /usr/bin/pip, a script of /usr/bin/python3 (prefix /usr); `python3` is ...
    (prefix /opt/venv)' when the pip command that ran installs into another Python than the
    `python3` users run, else ''."""
    script = record.pip_script
    if script is None:
        return ""
    mine, theirs = script.python3_prefix, script.prefix
    if not mine or not theirs or mine == theirs:
        return ""
    python = script.python3 or "python3"
    return (
        f"`{script.command}` is {script.path}, a script of {script.interpreter} (prefix "
        f"{theirs}); `python3` is {python} (prefix {mine}): {script.command} installed into "
        "another Python"
    )


def _shared_directory(record: Record) -> tuple[str, ...]:
    """One line per other installed distribution that owns files in the target's package
    directories."""
    package, after = record.package, record.after
    # Only the target's own import packages count: a namespace's __init__.py two libraries both ship
    # (google/, nvidia/) breaks nothing the upgrade is about.
    names = set(record.imports.names if record.imports else ())
    sharers = [s for s in record.sharers if not names or names & set(s.dirs)]
    return tuple(
        f"{s.name} {s.version} also owns {s.files} files under "
        f"{', '.join(d + '/' for d in s.dirs)} beside {package} {after}: uninstalling or "
        "upgrading either one deletes files the other needs"
        for s in sharers
    )[:3]


def _held_back(record: Record, wanted: str | None) -> tuple[str, ...]:
    """Why pip settled for an older release, in pip's words from its dry run of the newest one;
    () when it did not, or nothing says so. `wanted`: the newest release the target's own version
    range allows for this Python, where the index's release list is known (the cell's probe knows
    no range)."""
    probe = record.held_back
    if probe is None or probe.run.exit_code == 0:
        return ()
    if wanted and same_version(probe.newest, wanted) is False:
        return ()  # the probe asked for a release the target does not want (">=2.16,<2.18")
    output = probe.run.output
    why = _lines_matching(
        output,
        [
            re.compile(p)
            for p in (
                r" depends on ",
                r"The user requested",
                r"^ERROR: (Could not find a version|No matching distribution|"
                r"Cannot install|Package .* requires a different Python)",
            )
        ],
    )
    why = why or _last_lines(output, 2)
    # The first line says it all for a reader of one line (the report's table): the requirement that
    # forced it.
    forced = [
        line for line in why if " depends on " in line or "The user requested" in line
    ] or list(why[:1])
    head = (
        f"pip installed {record.after}, not {probe.newest}, which has files for this Python: "
        + "; ".join(forced[:2])
    )
    return (head, f"`{probe.run.command}` says:") + why


def _check_evidence(check: CheckRun, before: CheckRun | None = None) -> str:
    """'check keras-dense as root exited 1: ValueError: ...': the check's own error line; and
    whether it passed before the upgrade (it broke with it) or failed then too (it never worked
    here), when the cell ran it before."""
    lines = _lines_matching(check.output, [ERROR_LINE]) or _last_lines(check.output, 1)
    why = "timed out" if check.timed_out else f"exited {check.exit_code}"
    said = lines[-1] if lines else "(no output)"
    when = ""
    if before is not None:
        passed = before.exit_code == 0 and not before.timed_out
        when = (
            " after the upgrade; it passed before it (the upgrade broke it)"
            if passed
            else "; it failed before the upgrade too (it never worked here)"
        )
    return f"check {check.name} as {check.identity} {why}{when}: {said}"


def version_mismatch(imported: ImportCheck) -> str:
    """The module's own __version__ against the distribution's: a mixed tree imports another
    version."""
    module, dist = imported.version, imported.dist_version
    if same_version(module, dist) is False and not _repackaged(module, dist):
        name = imported.names[0] if imported.names else "the package"
        return (
            f"import {name} reports __version__ {module}, but the installed distribution is "
            f"{dist}: "
            "the files imported are not the ones the upgrade installed"
        )
    return ""


def _repackaged(module: str | None, dist: str | None) -> bool:
    """A post-release repackages a release's code, which keeps the release's __version__ (the
    real tensorflow 2.15.0.post1 says 2.15.0): not a mixed tree."""
    released = as_version(dist)
    if released is None or not released.is_postrelease:
        return False
    return same_version(module, re.sub(r"[.-]?post\d+", "", str(released))) is True


def _split_views(record: Record) -> str:
    """'user imports tensorflow 2.20.0; root imports 2.15.0' when identities disagree, else ''."""
    views = {who: view.version for who, view in record.views.items()}
    if len({str(as_version(v) or v) for v in views.values()}) < 2:  # PEP 440: '2.21' is '2.21.0'
        return ""
    upgrader = record.upgrader
    others = "; ".join(
        f"{who} imports {v or 'nothing'}" for who, v in views.items() if who != upgrader
    )
    return f"{upgrader} imports {record.package} {views.get(upgrader) or 'nothing'}; {others}"


def _focus(line: str, package: str) -> str:
    """'Successfully installed a-1 b-2 ... tensorflow-2.21.0' → only the target, counting the
    rest."""
    words = line.split()[2:]
    mine = [w for w in words if _normalise(w.rsplit("-", 1)[0]) == _normalise(package)]
    others = len(words) - len(mine)
    if not mine or others <= 3:
        return line
    return f"Successfully installed {' '.join(mine)} (and {others} other packages)"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
