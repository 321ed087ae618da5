"""Bad inputs that would take all the memory: refused before allocating, in one line, exit 2."""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from emcrowd import budget

AS_LIMIT = 4 << 30  # numba and LLVM reserve address space: 4 GB leaves room for a normal run


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "emcrowd", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("emcrowd: error")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    text += b" " * (64 - (10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


@pytest.mark.parametrize("shape", [(2**64,), (2**63, 1), (10**30, 2), (2**40, 2**40)])
def test_a_npy_header_whose_shape_overflows_is_one_line(tmp_path, shape):
    (tmp_path / "L.npy").write_bytes(npy_header(shape) + b"\0" * 64)
    assert_one_line_error(run_cli("info", str(tmp_path / "L.npy")), "L.npy")


def test_a_truth_npy_whose_shape_overflows_is_one_line(tmp_path):
    (tmp_path / "y.npy").write_bytes(npy_header((2**64,)) + b"\0" * 64)
    done = run_cli("compare", "sample_data/L.npy", "--truth", str(tmp_path / "y.npy"), "-q")
    assert_one_line_error(done, "y.npy")


def test_a_npy_header_claiming_more_than_the_file_holds(tmp_path):
    (tmp_path / "L.npy").write_bytes(npy_header((10**6, 10**6)) + b"\0" * 64)
    assert_one_line_error(run_cli("info", str(tmp_path / "L.npy")), "L.npy", "claims")


def _zip_declaring(path: Path, size: int) -> None:
    """A tiny .npz whose members declare ``size`` bytes each (sizes patched in the zip headers)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in ("item", "worker", "label"):
            archive.writestr(key + ".npy", npy_header((size // 8,), "<i8") + b"\0" * 1000)
    data = bytearray(buf.getvalue())
    for magic, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        i = data.find(magic)
        while i >= 0:
            struct.pack_into("<I", data, i + offset, min(size, 0xFFFFFFFE))
            i = data.find(magic, i + 4)
    path.write_bytes(bytes(data))


def test_a_small_zip_declaring_a_huge_member_is_refused_from_its_headers(tmp_path):
    _zip_declaring(tmp_path / "x.npz", 1 << 40)
    assert (tmp_path / "x.npz").stat().st_size < 2000
    assert_one_line_error(run_cli("info", str(tmp_path / "x.npz")), "x.npz", "item")


def test_a_compression_bomb_is_refused_before_inflating(tmp_path):
    n = 1 << 25  # 256 MiB of zeros in a member of ~250 KB
    with zipfile.ZipFile(tmp_path / "b.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("item.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header((n,), "<i8"))
            zeros = bytes(1 << 20)
            for _ in range(n * 8 // len(zeros)):
                fh.write(zeros)
        for key in ("worker", "label"):
            archive.writestr(key + ".npy", npy_header((3,), "<i8") + bytes(24))
    done = run_cli("info", str(tmp_path / "b.npz"), env={"EMCROWD_MAX_MEMORY": "64M"})
    assert_one_line_error(done, "b.npz", "item", "MiB")
    done = run_cli("info", str(tmp_path / "b.npz"))  # within the limit: refused from the headers
    assert_one_line_error(done, "b.npz", "differ in length")


def test_many_declared_classes_are_refused_before_the_fit(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(0)
    np.savez_compressed(
        tmp_path / "c.npz", item=np.arange(n), worker=rng.integers(0, 1000, n), label=rng.integers(0, n, n)
    )
    done = run_cli("fit", str(tmp_path / "c.npz"), "-q", "--out", str(tmp_path / "out"))
    assert_one_line_error(done, "classes", "needs")
    assert not (tmp_path / "out").exists()


def test_dawid_skene_with_a_class_per_label_is_refused(tmp_path):
    rows = "".join(f"x,w{i},c{i}\n" for i in range(500))
    (tmp_path / "one.csv").write_text("item,worker,label\n" + rows)
    done = run_cli(
        "fit", str(tmp_path / "one.csv"), "--method", "dawid-skene", "-q", "--out", str(tmp_path / "o")
    )
    assert_one_line_error(done, "dawid-skene", "500 classes", "GiB")
    assert not (tmp_path / "o").exists()


def test_max_memory_lowers_the_limit_and_a_bad_value_is_a_usage_error(tmp_path):
    done = run_cli("fit", "sample_data/L.npy", "-q", "--max-memory", "1K", "--out", str(tmp_path / "o"))
    assert_one_line_error(done, "limit set by --max-memory")
    assert_one_line_error(run_cli("info", "sample_data/L.npy", "--max-memory", "lots"), "--max-memory")
    assert run_cli("info", "sample_data/L.npy", "--max-memory", "4G").returncode == 0


def test_sizes_parse_and_the_limit_follows_the_rules(monkeypatch):
    assert budget.parse_size("4G") == 4 << 30 and budget.parse_size("500M") == 500 << 20
    assert budget.parse_size("1.5GiB") == 3 << 29 and budget.parse_size("2048") == 2048
    for bad in ("", "-1G", "4X", "0"):
        with pytest.raises(budget.BudgetError):
            budget.parse_size(bad)
    monkeypatch.setenv(budget.ENV, "1M")
    assert budget.limit() == 1 << 20
    budget.set_limit("2M")
    try:
        assert budget.limit(n_labels=10) == 2 << 20
    finally:
        budget.set_limit(None)
    monkeypatch.delenv(budget.ENV)
    assert budget.limit(n_labels=10) <= budget.FIT_FLOOR + 10 * budget.FIT_PER_LABEL
    assert budget.fit_bytes("dawid_skene", 1, 500, 500, 500) > 7 << 30


# -- signals ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_end_a_fit_like_ctrl_c(tmp_path, signame):
    import os
    import signal

    data = np.random.default_rng(0).integers(0, 2, (20_000, 30)).astype(float)
    np.save(tmp_path / "L.npy", data)
    old = tmp_path / "old"
    old.mkdir()
    (old / "posteriors.csv").write_text("old\n")
    for out in (old, tmp_path / "new"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "emcrowd", "fit", str(tmp_path / "L.npy"), "--out", str(out),
             "--tol", "1e-300", "--max-iter", "100000", "--method", "dawid-skene"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
            # the default disposition, as in a shell (under nohup, SIGHUP is ignored and stays so)
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
        )  # fmt: skip
        seen = []
        for line in proc.stderr:  # the data summary is printed before the fit starts: the marker
            seen.append(line)
            if "labels per annotator" in line:
                break
        assert proc.poll() is None, "".join(seen)
        proc.send_signal(getattr(signal, signame))
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 128 + getattr(signal, signame)
        errors = [line for line in rest.splitlines() if "error" in line]
        assert len(errors) == 1 and signame in errors[0] and "Traceback" not in rest, rest
    assert sorted(p.name for p in old.iterdir()) == ["posteriors.csv"]
    assert (old / "posteriors.csv").read_text() == "old\n"
    assert not (tmp_path / "new").exists()


# -- standard output -------------------------------------------------------------------------------------
STDOUT_COMMANDS = [
    ["--help"],
    ["info", "sample_data/L.npy", "--json"],
    ["compare", "sample_data/L.npy", "--truth", "sample_data/y.npy", "--json", "-q", "--methods", "glad"],
]


def _shell(args: list[str], redirect: str) -> subprocess.CompletedProcess:
    import shlex

    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "emcrowd", *args])
    return subprocess.run(
        ["bash", "-c", f"{command} {redirect}"], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("args", STDOUT_COMMANDS, ids=["help", "info", "compare"])
@pytest.mark.parametrize("redirect", ["> /dev/full", ">&-"], ids=["full", "closed"])
def test_stdout_on_a_full_disk_or_closed_is_one_line(args, redirect):
    done = _shell(args, redirect)
    assert_one_line_error(done, "standard output")


@pytest.mark.parametrize("args", STDOUT_COMMANDS, ids=["help", "info", "compare"])
def test_a_reader_that_goes_away_ends_quietly(args):
    done = _shell(args, "| true; exit ${PIPESTATUS[0]}")
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr and "Traceback" not in done.stderr


# -- terminal control characters ---------------------------------------------------------------------------
def test_control_characters_are_shown_escaped_on_stderr_and_kept_in_files(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text('item,worker,label\n"a\x1b]0;pwned\x07",w1,"x\x1b[2J"\nb,w1,y\nb,w2,"x\x1b[2J"\n')
    done = run_cli("fit", str(path), "--out", str(tmp_path / "o"), "--method", "majority")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b[2J" in done.stderr
    assert "\x1b[2J" in (tmp_path / "o" / "items.csv").read_text()  # data files keep the raw values
    missing = run_cli("info", str(tmp_path / "n\x1b]0;x\x07.csv"))
    assert_one_line_error(missing, "\\x1b]0;x\\x07")
    assert "\x1b" not in missing.stderr


# -- one writer per output directory -------------------------------------------------------------------------
def test_a_second_run_into_a_locked_directory_fails_at_once(tmp_path):
    import fcntl
    import os

    out = tmp_path / "out"
    out.mkdir()
    (out / "posteriors.csv").write_text("old\n")
    holder = subprocess.Popen(  # another process holding the directory, as a concurrent run does
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        done = run_cli("fit", "sample_data/L.npy", "-q", "--out", str(out))
        assert_one_line_error(done, str(out), "another emcrowd run")
        assert sorted(p.name for p in out.iterdir()) == ["posteriors.csv"]
        assert (out / "posteriors.csv").read_text() == "old\n"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run_cli("fit", "sample_data/L.npy", "-q", "--out", str(out)).returncode == 0
    fd = os.open(out, os.O_RDONLY)  # released again, and nothing left behind
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


# -- missing values in matrices ------------------------------------------------------------------------------
def test_a_negative_value_is_missing_in_npy_csv_and_npz_alike(tmp_path):
    from emcrowd.io import load_labels

    matrix = np.array([[0, 1, -1], [1, 1, 0], [-1, 0, 0]])
    np.save(tmp_path / "m.npy", matrix)
    np.save(tmp_path / "f.npy", matrix.astype(float))
    (tmp_path / "m.csv").write_text("a,b,c\n" + "".join(",".join(map(str, r)) + "\n" for r in matrix))
    rows, cols = np.indices(matrix.shape).reshape(2, -1)
    np.savez(tmp_path / "m.npz", item=rows, worker=cols, label=matrix.ravel())
    for name in ("m.npy", "f.npy", "m.csv", "m.npz"):
        data = load_labels(tmp_path / name).labels
        assert data.class_names == ("0", "1"), name
        assert data.n_labels == 7, name


# -- inputs that can be read once only ------------------------------------------------------------------
def test_a_fifo_is_read_once_as_a_stream(tmp_path: Path) -> None:
    """A named pipe is opened once (not sniffed, closed and opened again, which would wait for a
    second writer forever): its labels are read like standard input's."""
    import os
    import threading

    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "w") as pipe:
            pipe.write("item,worker,label\na,w1,x\na,w2,y\nb,w1,x\nb,w2,x\n")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    done = subprocess.run(
        [sys.executable, "-m", "emcrowd", "fit", str(fifo), "-m", "majority", "--out", "-", "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    thread.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "item,label,confidence"
    assert [line.split(",")[:2] for line in done.stdout.splitlines()[1:]] == [["a", "x"], ["b", "x"]]
