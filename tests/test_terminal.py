"""What a person at a terminal sees: verify's summary, a closed pipe, progress, refused options,
a rising loss, a full disk, signals, output folders and the roster example."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from xlnet.cli import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, main
from xlnet.run import Run

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_LINES = 12  # verify's default output stays a screenful whatever the epochs
SIGNAL_AFTER_S = 1.5
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """A 20-epoch logistic regressor: its verify report has 20 epochs of blocks."""
    out = tmp_path_factory.mktemp("book") / "wine.xlsx"
    assert main(["build", "logreg", "-o", str(out)]) == EXIT_OK
    return out


# --- verify: the verdict first, a summary, the table with --details -----------------------


def test_verify_prints_the_verdict_first_and_a_short_summary(cli, book):
    result = cli("verify", book)
    assert result.returncode == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK: ") and "checks passed" in lines[0]
    assert len(lines) <= SUMMARY_LINES, result.stdout
    text = result.stdout
    assert "in each of 20 epochs" in text and "worst" in text and "drift" in text
    assert "--details" in lines[-1]
    assert "max rel err" not in text  # no block table by default


def test_verify_details_adds_every_block(cli, book):
    result = cli("verify", book, "--details")
    assert result.returncode == EXIT_OK
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK: ")
    assert any(line.startswith("block ") and "max rel err" in line for line in lines)
    rows = [line for line in lines if line.split()[:2] == ["dW1", "20"]]
    assert len(rows) == 1 and rows[0].endswith("ok")


def test_verify_json_is_unchanged(cli, book):
    doc = json.loads(cli("verify", book, "--json").stdout)
    assert set(doc) == {"file", "engine", "tolerance", "ok", "formula_cells",
                        "unchecked_formulas", "unchecked_cells", "volatile_cells", "error_cells",
                        "blocks", "failures", "drift_blocks"}  # fmt: skip
    assert doc["ok"] and len(doc["blocks"]) > 20


def test_verify_failure_in_the_summary(cli, book, tmp_path):
    from xlnet.layout import TRAIN
    from xlnet.xlsxio import read_book
    from xlsx_edit import set_formula

    cell = Run.from_book(read_book(book)).layout.block("db1", 1).ref(0, 1, TRAIN)
    bad = tmp_path / "bad.xlsx"
    set_formula(book, bad, TRAIN, cell, lambda old: old.replace("/n_samples", ""))
    result = cli("verify", bad)
    assert result.returncode == EXIT_DIFFERS
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAILED: ")
    fail = [line for line in lines if line.startswith("FAIL db1 epoch 1:")]
    assert len(fail) == 1 and cell in fail[0] and "expected" in fail[0] and "got" in fail[0]


# --- a closed pipe is a quiet end -----------------------------------------------------------


def _into_head(args: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    """`xlnet ARGS | head -c 100`: xlnet's exit status and stderr, and what head printed."""
    xl = subprocess.Popen([sys.executable, "-m", "xlnet", *args], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    head = subprocess.run(["head", "-c", "100"], stdin=xl.stdout, capture_output=True,
                          check=False)  # fmt: skip
    xl.stdout.close()
    err = xl.stderr.read()
    xl.stderr.close()
    return xl.wait(timeout=300), err, head.stdout


def test_verify_json_into_head_is_quiet(book, tmp_path):
    # The JSON of 20 epochs is far more than a pipe holds: writing it meets the closed pipe.
    code, err, head = _into_head(["verify", str(book), "--json"], tmp_path)
    assert head.startswith(b"{") and len(head) == 100
    assert err == b"", err
    assert code in (0, 141)


@pytest.mark.parametrize("args", [
    ["verify", "{book}"],
    ["verify", "{book}", "--details"],
    ["sweep", "--hidden", "2,3", "--lr", "0.5,1", "--epochs", "2", "--json", "-o", "s.xlsx"],
    ["build", "logreg", "--epochs", "1", "-o", "b.xlsx"],
    ["--help"],
])  # fmt: skip
def test_every_command_ends_quietly_on_a_closed_pipe(book, tmp_path, args):
    """The reader is gone before xlnet writes a byte: whatever it prints meets the closed
    pipe (in its own writes or the interpreter's last flush)."""
    args = [a.replace("{book}", str(book)) for a in args]
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as out:
        proc = subprocess.run([sys.executable, "-m", "xlnet", *args], cwd=tmp_path, stdout=out,
                              stderr=subprocess.PIPE, timeout=300, check=False)  # fmt: skip
    assert proc.stderr == b"", proc.stderr
    assert proc.returncode in (0, 141)


# --- progress on a terminal only ------------------------------------------------------------


def _with_terminal_stderr(args: list[str], cwd: Path, env: dict | None = None):
    """Run xlnet with stderr on a pseudo-terminal: its exit status, stdout, and what the
    terminal showed. Stdout goes to a file, so a long report never waits on a full pipe."""
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "xlnet", *args], cwd=cwd, stdout=stdout,
                                stderr=slave, env=env)  # fmt: skip
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the pty's other end closed: the process is done
                break
            if not chunk:
                break
            shown += chunk
        os.close(master)
        code = proc.wait(timeout=300)
        stdout.seek(0)
        out = stdout.read().decode()
    return code, out, shown.decode(errors="replace")


@pytest.mark.parametrize("args", [
    ["build", "mlp", "--epochs", "2", "-o", "b.xlsx"],
    ["sweep", "--hidden", "2", "--lr", "0.5,1", "--epochs", "2", "-o", "s.xlsx"],
    ["export-scorer", "logreg", "--epochs", "2", "-o", "e.xlsx"],
    ["verify", "{book}"],
])  # fmt: skip
def test_progress_bar_on_a_terminal_counts_formula_cells(book, tmp_path, args):
    args = [a.replace("{book}", str(book)) for a in args]
    code, _, shown = _with_terminal_stderr(args, tmp_path)
    assert code == EXIT_OK, shown
    assert "formula cells" in shown and "\r[" in shown and "]" in shown
    assert shown.endswith("\n")  # the bar's line is ended: the next message starts afresh
    bars = [part for part in shown.split("\r") if "formula cells" in part]
    last = bars[-1].split("]")[1].split()[0]
    done, total = last.split("/")
    assert done == total  # it counts to the end


def test_no_progress_off_a_terminal_or_with_json(cli, book, tmp_path):
    result = cli("build", "mlp", "--epochs", "2", "-o", tmp_path / "b.xlsx")
    assert result.returncode == EXIT_OK and result.stderr == ""
    code, out, shown = _with_terminal_stderr(["verify", str(book), "--json"], tmp_path)
    assert code == EXIT_OK and shown == ""
    assert json.loads(out)["ok"]


FAKE_SOFFICE = """#!/bin/sh
# A stand-in for LibreOffice that takes its time and saves the workbook as it found it.
outdir=""; last=""
while [ $# -gt 0 ]; do
  case "$1" in --outdir) outdir="$2"; shift;; *) last="$1";; esac
  shift
done
sleep {seconds}
cp "$last" "$outdir/$(basename "$last")"
"""


@pytest.fixture
def slow_soffice(tmp_path, monkeypatch) -> dict:
    """PATH with an soffice that takes 2.2 s: long enough for a ticker to show."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "soffice"
    exe.write_text(FAKE_SOFFICE.format(seconds=2.2))
    exe.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    return {**os.environ, "PATH": path}


def test_libreoffice_recalculation_ticks(book, tmp_path, slow_soffice):
    from xlnet.libreoffice import recalculate

    heard: list[float] = []
    out = recalculate(book, tmp_path / "lo", tick=heard.append)
    assert out.exists()
    assert heard and heard == sorted(heard) and 1.5 < heard[-1] < 10


def test_verify_with_libreoffice_shows_elapsed_seconds(book, tmp_path, slow_soffice):
    code, _, shown = _with_terminal_stderr(["verify", str(book), "--engine", "libreoffice"],
                                             tmp_path, env=slow_soffice)  # fmt: skip
    # The stand-in keeps the file's cached values, which xlnet never wrote as results: a FAIL
    # is expected; what is tested is the terminal.
    assert code in (EXIT_OK, EXIT_DIFFERS), shown
    assert "LibreOffice recalculating… 2 s" in shown and shown.endswith("\n")
    assert "formula cells" not in shown  # no bar of our evaluator's: it did not run


def test_ticker_stays_silent_for_quick_work(monkeypatch, capsys):
    from xlnet import terminal

    monkeypatch.setattr(terminal, "on_terminal", lambda stream=None: True)
    with terminal.ticking("quick"):
        pass
    assert capsys.readouterr().err == ""
    tick = terminal.ticker("slow")
    tick(3.2)
    tick.close()
    assert capsys.readouterr().err == "\rslow… 3 s\n"


# --- options that do not apply are refused --------------------------------------------------

REFUSED = [
    (["build", "logreg", "--hidden", "5"], "xlnet build: --hidden goes with mlp"),
    (["build", "logreg", "--activation", "relu"], "xlnet build: --activation goes with mlp"),
    (["build", "mlp", "--momentum", "0.5"], "build: --momentum goes with --optimizer momentum"),
    (["build", "mlp", "--optimizer", "adam", "--momentum", "0.5"], "--momentum goes with"),
    (["build", "mlp", "--beta1", "0.5"], "xlnet build: --beta1 goes with --optimizer adam"),
    (["build", "mlp", "--optimizer", "momentum", "--beta2", "0.9"], "--beta2 goes with"),
    (["build", "logreg", "--epsilon", "1e-6"], "--epsilon goes with --optimizer adam"),
    (["exercise", "logreg", "--hidden", "3"], "xlnet exercise: --hidden goes with mlp"),
    (["exercise", "logreg", "--activation", "sigmoid"], "--activation goes with mlp"),
    (["exercise", "--template", "klaas-ch1", "--hidden", "3"], "does not apply to --template"),
    (["exercise", "--template", "klaas-ch1", "--epochs", "2"], "does not apply to --template"),
    (["exercise", "mlp", "--roster", "r.csv", "--outdir", "d", "--vary-lr", "--lr", "0.5"],
     "--lr and --vary-lr"),
    (["sweep", "--model", "logreg", "--activation", "relu"], "--activation goes with --model mlp"),
    (["sweep", "--momentum", "0.5"], "xlnet sweep: --momentum goes with --optimizer momentum"),
    (["sweep", "--optimizer", "sgd", "--beta1", "0.5"], "--beta1 goes with --optimizer adam"),
    (["export-scorer", "logreg", "--hidden", "4"], "xlnet export-scorer: --hidden goes with mlp"),
    (["export-scorer", "mlp", "--epsilon", "1e-6"], "--epsilon goes with --optimizer adam"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), REFUSED)
def test_options_that_do_not_apply_are_refused(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    out = [] if "--roster" in args else ["-o", "x.xlsx"]
    assert main([*args, *out]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["build", "mlp", "--optimizer", "momentum", "--momentum", "0.5"],
    ["build", "mlp", "--optimizer", "adam", "--beta1", "0.8", "--epsilon", "1e-6"],
    ["build", "mlp", "--activation", "relu", "--hidden", "3"],
])  # fmt: skip
def test_options_that_apply_are_taken(tmp_path, args):
    assert main([*args, "--epochs", "1", "-o", str(tmp_path / "x.xlsx")]) == EXIT_OK


def test_hidden_with_x_means_layers_in_every_command(tmp_path, capsys):
    """`8x4` is one net of two hidden layers in sweep; in build it is the same net as 8,4."""
    out = str(tmp_path / "a.xlsx")
    assert main(["build", "mlp", "--hidden", "3x2", "--epochs", "1", "-o", out]) == EXIT_OK
    assert "mlp 3,2 tanh" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "8x4" in capsys.readouterr().out


# --- a loss that rose: one warning line -----------------------------------------------------

RISING = ["--lr", "50", "--activation", "relu", "--epochs", "20"]  # loss 1.79 -> 675


def test_build_warns_when_the_loss_rose(cli, tmp_path):
    out = tmp_path / "x.xlsx"
    result = cli("build", "mlp", *RISING, "-o", out)
    assert result.returncode == EXIT_OK and out.exists()
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xlnet build: warning: "), result.stderr
    assert "rose from 1.7897 (epoch 1) to 675.252 (epoch 20)" in lines[0]


def test_no_warning_when_the_loss_fell(tmp_path, capsys):
    assert main(["build", "mlp", "--epochs", "3", "-o", str(tmp_path / "x.xlsx")]) == EXIT_OK
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("args", "who"), [
    (["sweep", "--hidden", "5", "--lr", "50", "--activation", "relu", "--epochs", "20"],
     "xlnet sweep: warning: the best run's training loss rose"),
    (["export-scorer", "mlp", *RISING], "xlnet export-scorer: warning: the training loss rose"),
])  # fmt: skip
def test_sweep_and_scorer_warn_when_the_loss_rose(tmp_path, monkeypatch, capsys, args, who):
    monkeypatch.chdir(tmp_path)
    assert main([*args, "-o", "x.xlsx"]) == EXIT_OK
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(who), err
    assert (tmp_path / "x.xlsx").exists()


# --- a full disk, Ctrl-C and SIGTERM leave nothing behind ----------------------------------

ENOSPC_BUILD = """
import errno, sys, zipfile
def full(self, *a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")
zipfile.ZipFile.{method} = full
from xlnet.cli import main
code = main(sys.argv[1:])
import gc; gc.collect()
sys.exit(code)
"""


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path):
    """The zip file XlsxWriter writes meets a full disk: one line naming the output, exit 2,
    no temporary file, and no traceback from the half-written ZipFile's garbage collection."""
    out = tmp_path / "full.xlsx"
    code = ENOSPC_BUILD.format(method="write")  # XlsxWriter copies each part in
    result = subprocess.run([sys.executable, "-c", code, "build", "logreg", "--epochs", "2", "-o",
                             str(out)], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == EXIT_USAGE
    assert result.stderr == f"xlnet: {out}: No space left on device\n", result.stderr
    assert list(tmp_path.iterdir()) == []


def test_disk_full_keeps_an_existing_file(tmp_path, monkeypatch, capsys):
    import errno
    import zipfile

    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"precious")

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "write", full)
    assert main(["build", "logreg", "--epochs", "1", "-o", str(out)]) == EXIT_USAGE
    assert capsys.readouterr().err == f"xlnet: {out}: No space left on device\n"
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xlsx"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)


def test_build_into_a_full_filesystem(cli, small_disk):
    out = small_disk / "net.xlsx"
    # In a process of its own: XlsxWriter leaves a part's file open when the disk is full, a
    # ResourceWarning that pytest would pin on a later test.
    result = cli("build", "mlp", "-o", out, cwd=small_disk, process=True)
    assert result.returncode == EXIT_USAGE, result.stdout
    assert result.stderr == f"xlnet: {out}: No space left on device\n", result.stderr
    assert list(small_disk.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_build_leaves_nothing(tmp_path, sig):
    """A long build stopped while it writes: one line, the shell's exit status for the signal,
    and no temporary file or XlsxWriter part left in the folder."""
    args = ["build", "mlp", "--epochs", "1000", "--layout", "arrays", "--hidden", "8", "-o",
            str(tmp_path / "long.xlsx")]  # fmt: skip

    # As from a shell's foreground: a background job (`pytest &`) starts with SIGINT ignored,
    # which the child would inherit, and then run the whole build.
    def foreground() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "xlnet", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=foreground)  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the writing has begun: its temporary file is there
    time.sleep(SIGNAL_AFTER_S)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == SIGNAL_EXIT[sig], err
    assert err.strip() in ("xlnet: interrupted", "xlnet: terminated") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_cleans_up_xlsxwriter_parts(tmp_path):
    from xlnet.outfile import atomic_write, writer_options

    seen = {}

    def write(tmp: str) -> None:
        seen["tmpdir"] = Path(writer_options(tmp)["tmpdir"])
        (seen["tmpdir"] / "tmpabc").write_text("part")  # as XlsxWriter's packager does
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.xlsx", write)
    assert seen["tmpdir"].parent == tmp_path  # on the output's filesystem
    assert list(tmp_path.iterdir()) == []


# --- output folders, and the README's roster example ---------------------------------------


def test_outdir_is_created_but_an_output_file_needs_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    assert main(["exercise", "logreg", "--roster", "examples/students.csv", "--outdir",
                 "new/deeper/"]) == EXIT_OK  # fmt: skip
    assert len(list((tmp_path / "new" / "deeper").glob("*.xlsx"))) == 5
    capsys.readouterr()
    assert main(["build", "logreg", "-o", "missing/x.xlsx"]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_outdir_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ex").write_text("a file")
    roster = ROOT / "examples" / "students.csv"
    assert main(["exercise", "logreg", "--roster", str(roster), "--outdir", "ex"]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "'ex' is a file" in err[0]


def test_students_csv_names_each_file_by_the_student(tmp_path, capsys):
    from xlnet.exercises import read_roster, student_of
    from xlnet.xlsxio import read_book

    roster = ROOT / "examples" / "students.csv"
    head = roster.read_text().splitlines()[0]
    assert head == "id,name,email"
    names = read_roster(roster)
    assert len(names) >= 3 and not any(n.startswith("s0") for n in names)  # names, not ids
    assert main(["exercise", "logreg", "--roster", str(roster), "--outdir",
                 str(tmp_path)]) == EXIT_OK  # fmt: skip
    assert f": {names[0]}, seed" in capsys.readouterr().out  # "wrote FILE: NAME, seed ..."
    path = tmp_path / (names[0].replace(" ", "_") + ".xlsx")
    assert student_of(read_book(path)) == names[0]
    assert len(list(tmp_path.glob("*.xlsx"))) == len(names)


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["exercise", "--template", "klaas-ch1", "--lr", "0.5"], "--lr goes with --roster"),
     (["exercise", "--template", "klaas-ch1", "--seed", "3"], "--seed goes with --roster"),
     (["exercise", "logreg", "--template", "klaas-ch1"], "not both")],
)  # fmt: skip
def test_template_exercise_refuses_what_it_would_ignore(tmp_path, capsys, argv, says):
    assert main([*argv, "-o", str(tmp_path / "t.xlsx")]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and says in err[0] and not (tmp_path / "t.xlsx").exists()


def test_an_output_under_a_file_says_so(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main(["build", "logreg", "-o", str(tmp_path / "afile" / "x.xlsx")]) == EXIT_USAGE
    assert "is a file, not a folder" in capsys.readouterr().err
