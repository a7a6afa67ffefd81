"""TensorBoard event files: TFRecord framing, TF's file naming, the ``brain.Event:2`` header.

A record is ``uint64 length (little endian) | masked crc32c(length) | data | masked crc32c(data)``
(the framing of TF's ``RecordWriter``, read by TensorBoard and ``tf.data.TFRecordDataset``). An
events file is ``<logdir>/events.out.tfevents.<10-digit seconds>.<hostname><suffix>`` and starts
with an ``Event`` whose ``file_version`` is ``brain.Event:2`` (``wall_time`` whole seconds and
``source_metadata.writer`` as TF's C++ ``EventsWriter`` writes them).

Writes are synchronous (no writer thread): events are framed at once and handed to the OS when
``max_queue`` are pending, and written and fsynced when ``flush_secs`` have passed since the last
flush (checked as events arrive, as TF's writer thread does), on :meth:`EventFileWriter.flush`
and on :meth:`EventFileWriter.close` (which also fsyncs the directory). Writers still open at
interpreter exit, or dropped without ``close()``, are closed then.

Beyond TF: a new file never replaces an existing one (TF truncates a file of the same name made
in the same second); the timestamp in the name is advanced to the next free second instead.
"""

from __future__ import annotations

import atexit
import os
import socket
import struct
import threading
import time
import weakref

from gmeta.checkpoint import crc32c
from gmeta.framework.fileio import fsync_dir

FILE_VERSION = "brain.Event:2"
WRITER_SOURCE = "tensorflow.core.util.events_writer"

_LIVE: "weakref.WeakSet[EventFileWriter]" = weakref.WeakSet()


def frame_record(data: bytes) -> bytes:
    """``data`` as one TFRecord: length, masked CRC of the length, data, masked CRC of data."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", crc32c.masked_value(header)), data,
                     struct.pack("<I", crc32c.masked_value(data))))


def read_records(path: str):
    """Yields the data of every record of a TFRecord file, checking both CRCs.

    Raises:
        gmeta.errors.DataLossError: a truncated record or a CRC mismatch.
    """
    from gmeta import errors

    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise errors.DataLossError(None, None, f"truncated record header in {path}")
            (length,) = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != crc32c.masked_value(header[:8]):
                raise errors.DataLossError(None, None, f"corrupted record length in {path}")
            data, footer = f.read(length), f.read(4)
            if len(data) < length or len(footer) < 4:
                raise errors.DataLossError(None, None, f"truncated record in {path}")
            if struct.unpack("<I", footer)[0] != crc32c.masked_value(data):
                raise errors.DataLossError(None, None, f"corrupted record data in {path}")
            yield data


def events_file_name(logdir: str, seconds: int, suffix: str = "") -> str:
    """TF's events file path: ``<logdir>/events.out.tfevents.<%010d seconds>.<host><suffix>``."""
    return os.path.join(logdir, f"events.out.tfevents.{seconds:010d}.{socket.gethostname()}"
                                f"{suffix or ''}")


class EventFileWriter:
    """Writes ``Event`` protos to an events file in ``logdir`` (TF's ``EventFileWriter``).

    Args:
        logdir: the directory (created if missing).
        max_queue: events kept in memory before they are handed to the file.
        flush_secs: seconds after which pending events are handed to the file and flushed.
        filename_suffix: appended to the events file name.
    """

    def __init__(self, logdir, max_queue=10, flush_secs=120, filename_suffix=None):
        self._logdir = str(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        self._max_queue = max(1, int(max_queue))
        self._flush_secs = float(flush_secs)
        self._suffix = filename_suffix or ""
        self._lock = threading.RLock()
        self._file = None
        self._path = None
        self._pending: list[bytes] = []
        self._next_flush = 0.0
        self._closed = False
        self._open()
        _LIVE.add(self)

    # -- files -----------------------------------------------------------------------------------
    def _open(self):
        from gmeta.proto import Event

        seconds = int(time.time())
        while True:
            path = events_file_name(self._logdir, seconds, self._suffix)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                seconds += 1
        self._file, self._path = os.fdopen(fd, "wb"), path
        header = Event(wall_time=float(seconds), file_version=FILE_VERSION)
        header.source_metadata.writer = WRITER_SOURCE
        self._file.write(frame_record(header.SerializeToString()))
        self._sync()
        fsync_dir(self._logdir)
        self._next_flush = time.time() + self._flush_secs

    def _sync(self):
        self._file.flush()
        os.fsync(self._file.fileno())

    def _write_pending(self):
        if self._file is not None and not os.path.exists(self._path):
            self._file.close()  # deleted under us (as TF's EventsWriter, start a new file)
            self._file = None
        if self._file is None:
            self._open()
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
        self._file.flush()
        self._next_flush = time.time() + self._flush_secs

    # -- API -------------------------------------------------------------------------------------
    def get_logdir(self):
        """The directory the events files go to."""
        return self._logdir

    @property
    def path(self):
        """The path of the current events file (None after :meth:`close`)."""
        return self._path if self._file is not None else None

    def add_event(self, event):
        """Queues ``event`` (an ``Event`` proto) for the file; ignored once closed."""
        with self._lock:
            if self._closed:
                return
            self._pending.append(frame_record(event.SerializeToString()))
            if time.time() >= self._next_flush:
                self._write_pending()
                self._sync()
            elif len(self._pending) >= self._max_queue:
                self._write_pending()

    def flush(self):
        """Writes every pending event and fsyncs the file."""
        with self._lock:
            if self._closed:
                return
            self._write_pending()
            self._sync()

    def close(self):
        """Flushes, fsyncs and closes the file (a later :meth:`reopen` starts a new one)."""
        with self._lock:
            if self._closed:
                return
            self._write_pending()
            self._sync()
            self._file.close()
            self._file = None
            fsync_dir(self._logdir)
            self._closed = True

    def __del__(self):  # best effort: a writer dropped without close() keeps its events
        try:
            if getattr(self, "_file", None) is not None:
                self.close()
        except Exception:  # pragma: no cover - e.g. at interpreter shutdown
            pass

    def reopen(self):
        """After :meth:`close`: accepts events again, into a new events file."""
        with self._lock:
            if self._closed:
                self._closed = False
                self._open()


@atexit.register
def _close_all():  # pragma: no cover - runs at interpreter exit
    for writer in list(_LIVE):
        try:
            writer.close()
        except Exception:
            pass
