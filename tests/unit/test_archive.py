"""report.zip: the run as a user attaches it, within the size they set; over it, the logs trimmed
around their decisive lines, saying so; never a file from outside the run."""

from __future__ import annotations

import secrets
import zipfile

from repromatrix.cli import main
from repromatrix.core.result import CellResult, RunResult
from repromatrix.results.archive import trim_log
from repromatrix.results.results import save_run

DECISIVE = "ERROR: Cannot install tensorflow==2.21.0 because these package versions have conflicting dependencies."


def noisy_log(lines: int, decisive_at: int) -> str:
    """A build log that does not compress: random lines, with the decisive one in the middle."""
    out = [f"#{i} {secrets.token_hex(40)}" for i in range(lines)]
    out[decisive_at] = DECISIVE
    return "\n".join(out) + "\n"


def stored_run(tmp_path, cells=4, lines=20_000):
    results = []
    for i in range(cells):
        folder = tmp_path / "cells" / f"c{i}"
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(f"FROM scratch\n# cell {i}\n")
        (folder / "scenario.py").write_text("print('scenario')\n")
        (folder / "log.txt").write_text(noisy_log(lines, lines // 2))
        failing = i % 2 == 0
        results.append(CellResult(id=f"c{i}", axes={"os": "bookworm", "n": str(i)},
                                  outcome="resolution-impossible" if failing else "upgraded",
                                  evidence=[DECISIVE] if failing else ["Successfully installed"],
                                  expected=["upgraded"], log=f"cells/c{i}/log.txt",
                                  dockerfile=f"cells/c{i}/Dockerfile"))
    run = RunResult(run_id="20261205-101500-abc123", matrix="matrix.yaml", target={"package": "tensorflow"},
                    started="2026-12-05T10:15:00+00:00", cells=results)
    save_run(run, tmp_path)
    return run


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_archive_holds_the_reports_and_every_cells_files_whole_when_they_fit(tmp_path):
    stored_run(tmp_path, lines=200)
    outside = tmp_path.parent / "secret.txt"
    outside.write_text("not the run's")
    (tmp_path / "cells" / "c0" / "link.txt").symlink_to(outside)
    assert main(["report", str(tmp_path), "--format", "zip"]) == 0
    files = members(tmp_path / "report.zip")
    assert {"README.txt", "index.html", "results.json", "summary.md", "junit.xml", "summary.png",
            "summary.svg"} <= set(files)
    for i in range(4):
        assert files[f"cells/c{i}/log.txt"] == (tmp_path / "cells" / f"c{i}" / "log.txt").read_bytes()
        assert f"cells/c{i}/Dockerfile" in files and f"cells/c{i}/scenario.py" in files
    assert "cells/c0/link.txt" not in files and b"trimmed" not in files["README.txt"]
    assert not (tmp_path / "report.zip.tmp").exists()


def test_over_its_budget_the_logs_are_trimmed_around_their_decisive_lines_saying_so(tmp_path):
    stored_run(tmp_path)  # four logs of about 1.7 MB of random text each
    assert main(["report", str(tmp_path), "--format", "zip", "--size-budget", "2"]) == 0
    assert (tmp_path / "report.zip").stat().st_size <= 2 * 10**6
    files = members(tmp_path / "report.zip")
    assert b"trimmed around their decisive lines" in files["README.txt"]
    log = files["cells/c0/log.txt"].decode()
    assert DECISIVE in log and "lines left out of report.zip to fit its size budget" in log
    assert log.startswith("#0 ") and "#19999 " in log  # its start and its end
    # the run's own logs are whole
    assert (tmp_path / "cells" / "c0" / "log.txt").stat().st_size > 1_500_000


def test_tighter_still_only_the_unexpected_cells_logs_are_kept(tmp_path):
    stored_run(tmp_path, cells=60, lines=2000)  # trimmed: 1.1 MB; the failing ones: 0.6 MB
    assert main(["report", str(tmp_path), "--format", "zip", "--size-budget", "0.9"]) == 0
    files = members(tmp_path / "report.zip")
    assert b"Only the unexpected cells' logs" in files["README.txt"]
    assert "cells/c0/log.txt" in files and "cells/c1/log.txt" not in files
    assert "cells/c1/Dockerfile" in files  # every cell can still be rebuilt


def test_a_budget_nothing_fits_is_refused_with_the_fix_and_nothing_written(tmp_path, capsys):
    stored_run(tmp_path, cells=20, lines=2000)  # the failing cells' trimmed logs: 0.2 MB
    assert main(["report", str(tmp_path), "--format", "zip", "--size-budget", "0.1"]) == 2
    assert "over its budget of 0.1 MB" in capsys.readouterr().err and not (tmp_path / "report.zip").exists()
    assert main(["report", str(tmp_path), "--format", "zip", "--size-budget", "lots"]) == 2


def test_trimming_keeps_context_around_each_decisive_line():
    cell = CellResult(id="c", axes={}, outcome="ssl-error", evidence=["SSLError(SSLCertVerificationError"])
    log = "\n".join(f"line {i}" if i != 500 else "x SSLError(SSLCertVerificationError(1, ...)) y" for i in range(1000))
    kept = trim_log(log, cell).decode().splitlines()
    assert "line 469" not in kept and "line 470" in kept and "line 530" in kept and "line 531" not in kept
    assert kept[40] == "[... 430 lines left out of report.zip to fit its size budget ...]"
