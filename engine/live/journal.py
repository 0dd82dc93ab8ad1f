"""The write-ahead event journal: an event is on disk before anyone sees it or acts on it.

The bus hands every record to :meth:`Journal.append`; a writer thread appends what
arrived since its last write to the current segment and makes it durable with ONE
synchronous write (O_DSYNC; group commit: the group is whatever arrived during the
previous write, plus an optional ``window_s``), then gives the group back (``on_durable``) to be broadcast and
drained into DuckDB by the ticker. ``emit`` never waits for the disk.

Format: ``<data-dir>/journal/<first seq>-<unique>.log``, one block per group::

    G<crc32 of block, 8 hex>␠<records>␠<block bytes>\n<block>

where the block is each record's websockets frame (already encoded once by the bus, so
journalling an event costs a join, not a second encoding) followed by a newline. Frames
are ASCII JSON, so no raw newline occurs inside one. A group torn by a crash fails its
checksum and is cut, with everything after it in that segment; its records were never
published, so nobody acted on them. Segments written before groups (one checksummed line
per record, ``encode_line``) are still read. Segments are rolled at ``segment_bytes`` and
deleted once the ticker has committed every record in them (``drained``), so the journal
stays bounded.

When the disk refuses a write (ENOSPC, EROFS, EACCES) the group stays in memory, the
fault is reported to :class:`~engine.live.storage.StorageHealth` and the write is
retried every ``retry_s`` until it succeeds.
"""
from __future__ import annotations

import calendar
import json
import logging
import os
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.live.storage import StorageHealth, is_storage_error

__all__ = ["Journal", "JournalEntry", "read_journal", "encode_group", "encode_line", "SEGMENT_SUFFIX"]

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".log"
_quote = json.encoder.encode_basestring_ascii


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One record as the journal holds it (what replay needs to rebuild a bus Record)."""
    seq: int
    ts_us: int
    session_id: str | None
    item_id: str | None
    type: str
    payload_json: str


def _json_id(value) -> str:
    if value is None:
        return "null"
    return _quote(value) if value.__class__ is str else json.dumps(value)


def encode_group(frames: list[str]) -> bytes:
    """One group's bytes: a checksummed header, then each frame on its own line."""
    block = ("\n".join(frames) + "\n").encode()
    return b"G%08x %d %d\n" % (zlib.crc32(block) & 0xFFFFFFFF, len(frames), len(block)) + block


_PAYLOAD_KEY = ',"payload":'


def _decode_frame(frame: str) -> JournalEntry:
    """A bus frame back into its record's fields; the payload's text is kept exactly as it was sent."""
    head, _, payload_json = frame.partition(_PAYLOAD_KEY)  # the first: a JSON string cannot hold a bare quote
    fields = json.loads(head + "}")
    ts = fields["ts"]  # YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC
    ts_us = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) * 1_000_000 + int(ts[20:26])
    return JournalEntry(fields["seq"], ts_us, fields["session_id"], fields["item_id"], fields["event"],
                        payload_json[:-1])


def _decode_group(data: bytes, pos: int) -> tuple[list[JournalEntry], int] | None:
    """The group starting at ``pos`` and where the next begins, or None when it is torn or corrupt."""
    end = data.find(b"\n", pos)
    if end < 0:
        return None
    try:
        crc, count, size = data[pos + 1:end].split(b" ")
        block = data[end + 1:end + 1 + int(size)]
        if len(block) != int(size) or int(crc, 16) != zlib.crc32(block) & 0xFFFFFFFF:
            return None
        entries = [_decode_frame(frame) for frame in block.decode().split("\n")[:-1]]
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    if len(entries) != int(count):
        return None
    return entries, end + 1 + int(size)


def encode_line(seq: int, ts_us: int, session_id, item_id, type_: str, payload_json: str) -> bytes:
    """A record as journals before group blocks held it, one checksummed line each (still read)."""
    body = f"{seq}\t{ts_us}\t{_json_id(session_id)}\t{_json_id(item_id)}\t{type_}\t{payload_json}".encode()
    return b"%08x " % (zlib.crc32(body) & 0xFFFFFFFF) + body + b"\n"


def _decode_line(line: bytes) -> JournalEntry | None:
    """The entry, or None when the line is torn or fails its checksum."""
    if len(line) < 10 or not line.endswith(b"\n") or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body) & 0xFFFFFFFF:
            return None
        seq, ts_us, sid, iid, type_, payload = body.decode().split("\t", 5)
        return JournalEntry(int(seq), int(ts_us), json.loads(sid), json.loads(iid), type_, payload)
    except (ValueError, UnicodeDecodeError):
        return None


def _first_seq(path: Path) -> int:
    head = path.stem.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SEGMENT_SUFFIX}"), key=lambda p: (_first_seq(p), p.stat().st_mtime_ns, p.name))


def _read_segment(path: Path, *, repair: bool) -> list[JournalEntry]:
    entries: list[JournalEntry] = []
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        if data[pos:pos + 1] == b"G":
            group = _decode_group(data, pos)
            if group is not None:
                entries.extend(group[0])
                pos = group[1]
                continue
            entry = None
        else:
            end = data.find(b"\n", pos)
            entry = _decode_line(data[pos:end + 1]) if end >= 0 else None
        if entry is None:
            log.warning("journal %s: record at byte %d is torn or corrupt; cutting %d bytes from there",
                        path, pos, len(data) - pos)
            if repair:
                with open(path, "r+b") as fh:
                    fh.truncate(pos)
                    os.fsync(fh.fileno())
            break
        entries.append(entry)
        pos = end + 1
    return entries


def read_journal(directory: Path, *, repair: bool = False) -> list[JournalEntry]:
    """Every intact record, in seq order, each seq once. With ``repair``, a corrupt line and what follows
    it in its segment are cut from the file (a crash mid-write leaves at most one torn line per segment)."""
    by_seq: dict[int, JournalEntry] = {}
    for path in _segments(Path(directory)):
        for entry in _read_segment(path, repair=repair):
            by_seq.setdefault(entry.seq, entry)
    return [by_seq[s] for s in sorted(by_seq)]


class Journal:
    """Append-only, checksummed, group-committed. ``append`` is thread-safe and never blocks on I/O."""

    def __init__(self, directory: Path, *, storage: StorageHealth | None = None, window_s: float = 0.0,
                 busy_group: int = 256, busy_pause_s: float = 0.004,
                 segment_bytes: int = 8 << 20, retry_s: float = 0.25, fsync: bool = True):
        self.directory = Path(directory)
        self.storage = storage or StorageHealth()
        self.window_s = window_s
        # After a group of ``busy_group`` records or more the writer waits ``busy_pause_s`` before the next, so a
        # stream that busy shares fewer synchronous writes: each costs kernel time whatever its size
        # (bench/events.py at 60,000 events/s: ~13 % more persisted, 2-3 us less CPU an event). A quiet stream's
        # groups are small and never wait, so a paid call's durable wait and the live push keep their latency.
        self.busy_group = busy_group
        self.busy_pause_s = busy_pause_s
        self.segment_bytes = segment_bytes
        self.retry_s = retry_s
        self.fsync = fsync
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._queue: list = []  # records (anything with the Record fields) waiting for the disk
        self._on_durable: Callable[[list], None] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._fd: int | None = None
        self._segment: Path | None = None
        self._segment_size = 0
        self._segment_last = 0
        self._closed_segments: list[tuple[Path, int]] = []  # (path, last seq in it), oldest first
        self._segments_lock = threading.Lock()
        self._drained = 0
        self.durable_seq = 0
        self.groups = 0
        self.written = 0
        self.faulted = False

    # -- lifecycle ------------------------------------------------------------------------------
    def recover(self) -> list[JournalEntry]:
        """Read (and repair) what earlier engines left; the segments stay until ``drained`` covers them."""
        self.directory.mkdir(parents=True, exist_ok=True)
        by_seq: dict[int, JournalEntry] = {}
        for path in _segments(self.directory):
            inside = _read_segment(path, repair=True)
            self._closed_segments.append((path, max((e.seq for e in inside), default=0)))
            for entry in inside:
                by_seq.setdefault(entry.seq, entry)
        entries = [by_seq[s] for s in sorted(by_seq)]
        if entries:
            self.durable_seq = entries[-1].seq
        return entries

    def start(self, on_durable: Callable[[list], None]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._on_durable = on_durable
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    def close(self, *, timeout: float = 30.0) -> None:
        """Write what is queued (retrying a faulted disk up to ``timeout``), then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("journal writer did not finish within %.0fs; %d records not written",
                          timeout, len(self._queue))
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._segment is not None:
                with self._segments_lock:
                    self._closed_segments.append((self._segment, self._segment_last))
                self._segment = None
        self._delete_drained()

    # -- the hot path ---------------------------------------------------------------------------
    def append(self, record) -> None:
        with self._lock:  # the Condition's own lock, taken without its Python-level wrapper: every event passes here
            self._queue.append(record)
            if len(self._queue) == 1:
                self._cond.notify()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def drained(self, seq: int) -> None:
        """Every record up to ``seq`` is committed to the database: segments wholly before it may go."""
        self._drained = max(self._drained, seq)
        if self._closed_segments and self._closed_segments[0][1] <= seq:
            self._delete_drained()

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue and self._closing:
                    return
            if self.window_s and not self._closing:
                time.sleep(self.window_s)  # let the rest of this burst join the group: one fsync for all
            with self._cond:
                group, self._queue = self._queue, []
            self._write_until_durable(group)
            callback = self._on_durable
            if callback is not None:
                try:
                    callback(group)
                except Exception:
                    log.exception("publishing durable events failed")
            if self.busy_pause_s and len(group) >= self.busy_group and not self._closing:
                time.sleep(self.busy_pause_s)

    def _write_until_durable(self, group: list) -> None:
        data = encode_group([r.frame for r in group])
        while True:
            try:
                self._write_group(data, group[0].seq, group[-1].seq)
            except OSError as exc:
                if not is_storage_error(exc):
                    log.exception("journal write failed (%s); retrying", exc)
                elif not self.faulted:
                    self.faulted = True
                    self.storage.failed("journal", self._segment or self.directory, exc)
                time.sleep(self.retry_s)
                with self._cond:  # records that arrived meanwhile join the retry: one group, one fsync
                    if self._queue:
                        more, self._queue = self._queue, []
                        group.extend(more)
                        data = encode_group([r.frame for r in group])
                continue
            if self.faulted:
                self.faulted = False
                self.storage.recovered("journal")
            self.durable_seq = group[-1].seq
            self.groups += 1
            self.written += len(group)
            return

    def _write_group(self, data: bytes, first_seq: int, last_seq: int) -> None:
        if self._fd is None or self._segment_size >= self.segment_bytes:
            self._roll(first_seq)
        start = self._segment_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)  # O_DSYNC: durable when it returns (one syscall, one GIL hand-off)
                view = view[n:]
        except OSError:
            # leave no partial group behind: the retry writes it whole (if the cut fails too, start afresh:
            # a torn tail in a closed segment is cut by its checksum on the next start)
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                self._abandon_segment()
            raise
        self._segment_size = start + len(data)
        self._segment_last = last_seq

    def _roll(self, first_seq: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
            with self._segments_lock:
                self._closed_segments.append((self._segment, self._segment_last))
            self._fd = None
        # a unique name: a segment abandoned after a failed write may hold a torn copy of this very group
        path = self.directory / f"{first_seq:016d}-{os.getpid():x}{time.time_ns() % 10**9:09d}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_DSYNC if self.fsync else 0), 0o644)
        self._segment, self._fd, self._segment_size, self._segment_last = path, fd, 0, 0
        if self.fsync:  # the new file's name must survive a crash too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._delete_drained()

    def _abandon_segment(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            with self._segments_lock:
                self._closed_segments.append((self._segment, self._segment_last))
        self._fd = None
        self._segment = None

    def _delete_drained(self) -> None:
        with self._segments_lock:  # the ticker thread (drained) and the writer (rolling) both get here
            self._closed_segments = self._delete_from(self._closed_segments)

    def _delete_from(self, segments: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        kept = []
        for path, last in segments:
            if last <= self._drained:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("could not delete drained journal segment %s: %s", path, exc)
                    kept.append((path, last))
            else:
                kept.append((path, last))
        return kept
