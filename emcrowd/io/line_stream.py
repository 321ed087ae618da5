"""Labels as they arrive on a stream (standard input, a pipe, or a file that grows): complete lines
parsed as CSV or TSV rows of (item, worker, label), for ``emcrowd stream``."""

from __future__ import annotations

import csv
import os
import time
from typing import Any

from emcrowd.errors import InputError
from emcrowd.io._common import COLUMN_NAMES, DEFAULT_MISSING
from emcrowd.io.roles import find_column, looks_long

#: bytes read at a time
CHUNK = 1 << 20


class LineReader:
    """Complete lines from a file descriptor as they come, parsed as CSV (or TSV) rows of
    (item, worker, label); the first line is a header when it names the columns."""

    def __init__(self, name: str, fd: Any, classes: tuple[str, ...]) -> None:
        self.name, self.fd, self.classes = name, fd, classes
        self.rest = b""
        self.columns: tuple[int, int, int] | None = None
        self.delimiter = ","
        self.line_no = 0
        self.n_missing = 0
        self.header: list[str] | None = None

    def read(self, timeout: float | None, follow: bool) -> list[tuple[str, str, str]] | None:
        """The rows of the complete lines available now ([] when none came within ``timeout``), or
        None at the end of the input."""
        import select

        if not isinstance(self.fd, int):  # a file object without a descriptor: plain blocking reads
            chunk = self.fd.read1(CHUNK) if hasattr(self.fd, "read1") else self.fd.read(CHUNK)
            return self._take(chunk, follow=False, timeout=timeout)
        if timeout is not None:
            try:
                ready, _, _ = select.select([self.fd], [], [], timeout)
            except (OSError, ValueError):  # not selectable (some platforms' files): read anyway
                ready = [self.fd]
            if not ready:
                return []
        return self._take(os.read(self.fd, CHUNK), follow, timeout)

    def _take(self, chunk: bytes, follow: bool, timeout: float | None) -> list[tuple[str, str, str]] | None:
        if not chunk:
            if follow:
                time.sleep(0.05 if timeout is None else min(0.05, timeout))
                return []
            if self.rest.strip():
                rows = self._rows([self.rest])
                self.rest = b""
                return rows
            return None
        data = self.rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self.rest = data
            return []
        self.rest = data[cut + 1 :]
        return self._rows(data[: cut + 1].splitlines())

    def _rows(self, lines: list[bytes]) -> list[tuple[str, str, str]]:
        try:
            text = [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError:
            raise InputError(self.name, f"line {self.line_no + 1}: not UTF-8 text") from None
        if self.columns is None:
            text = [t for t in text if t.strip()]
            if not text:
                return []
            self._header(text[0])
            if self.columns is not None and self._is_header:
                text = text[1:]
                self.line_no += 1
        assert self.columns is not None
        i, w, lab = self.columns
        need = max(self.columns) + 1
        out = []
        for row in csv.reader(text, delimiter=self.delimiter):
            self.line_no += 1
            if not row:
                continue
            if len(row) < need:
                raise InputError(
                    self.name, f"line {self.line_no}: {len(row)} fields, expected item,worker,label"
                )
            answer = row[lab].strip()
            if answer.lower() in DEFAULT_MISSING:  # no answer, as fit reads it: skipped and counted
                self.n_missing += 1
                continue
            if self.header is not None and row == self.header:  # a header again (files put together)
                continue
            out.append((row[i].strip(), row[w].strip(), answer))
        return out

    def _header(self, first: str) -> None:
        self.delimiter = "\t" if first.count("\t") > first.count(",") else ","
        cells = next(csv.reader([first], delimiter=self.delimiter))
        self._is_header = looks_long(cells)
        self.header = cells if self._is_header else None
        if self._is_header:
            self.columns = tuple(  # type: ignore[assignment]
                find_column(self.name, cells, role, None, COLUMN_NAMES[role])
                for role in ("item", "worker", "label")
            )
        else:
            self.columns = (0, 1, 2)
