"""Our two kombu transports, each kombu's own with one fault fixed at its cause. The settings select
them with ``CELERY_BROKER_TRANSPORT``: ``Transport`` for the demo (no broker URL configured),
``RedisTransport`` for a ``redis://`` or ``rediss://`` broker.

The demo's broker: kombu's file-system transport, with every file a reader can see complete.

kombu's own transport writes a message straight into the queue folder under an advisory lock, but
the reader never takes that lock: it moves the file away and parses it. A message read while it is
still being written is a truncated JSON document, and the worker dies with ``JSONDecodeError``.
Here a message is written to a hidden temporary file in the same folder, flushed, and renamed into
place: ``os.replace`` is atomic within one file system, so a reader sees the whole message or
nothing. Readers claim a message by renaming it into the processed folder (never across file
systems, where a move is a copy), so two consumers never both get it. The exchange tables get the
same care: created without truncating a table another process is writing.

The Redis broker: when Redis goes away, Celery's consumer first collects the broken connection,
which closes the channel, then releases the connection, which closes the channel again. kombu's
Redis channel begins its close by reading the reply to the BRPOP it has in flight; on a dead
connection that read raises, so the first close stops there, the channel stays open, and the
connection's transport is released. The second close then tries to put the worker's unacknowledged
messages (tasks waiting for their countdown, say) back through that released transport and fails
with ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which Celery does not treat
as a connection error: the worker exits ("Unrecoverable error"). Here a BRPOP that died with its
connection ends the read and the close goes on, while the transport is still there; and a channel
whose transport has been released says so with a connection error, which Celery recovers from.
Messages that could not be put back while Redis was down stay in Redis's unacknowledged set (when
Redis keeps its data), from which kombu restores them after the visibility timeout; the remediation
outbox's sweeper and beat's poll recover the portal's work either way.
"""

import contextlib
import json
import logging
import os
import tempfile
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, redis
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

#: Temporary files start with a dot: kombu's readers take only "<stamp>_<uuid>.<queue>.msg".
_TEMP_PREFIX = ".incoming-"


def write_atomically(folder, name, data):
    """Write `data` to `folder`/`name` so that no reader ever sees part of it."""
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, os.path.join(folder, name))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # Zero-padded so that names sort in publishing order (kombu reads the oldest first).
        name = f"{int(monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_atomically(self.data_folder_out, name, dumps(payload).encode())
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        processed = Path(self.processed_folder)
        processed.mkdir(parents=True, exist_ok=True)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = processed / name
            try:
                # A rename within one file system: exactly one consumer wins it.
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another consumer took it
            except OSError as exc:
                raise ChannelError(f"Cannot claim {name!r} from the queue folder") from exc
            try:
                payload = claimed.read_bytes()
                message = loads(payload)
            except ValueError:
                # Only a file written by something else than _put can be broken now; keep it for
                # a person to look at rather than let one bad file stop the worker.
                bad = claimed.with_name(claimed.name + ".unreadable")
                os.replace(claimed, bad)
                log.error("broker message %s is not valid JSON; kept as %s", name, bad)
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot read {claimed}") from exc
            if not self.store_processed:
                claimed.unlink(missing_ok=True)
            return message
        raise Empty()

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as f:
                filesystem.lock(f, filesystem.LOCK_SH)
                try:
                    data = f.read()
                finally:
                    filesystem.unlock(f)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        # Empty: another process has just created the table and not yet written it.
        return [filesystem.exchange_queue_t(*q) for q in json.loads(data)] if data.strip() else []

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # Opened without truncating: kombu's "wb" emptied a table another process was writing.
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
            with os.fdopen(fd, "rb+", buffering=0) as f:
                filesystem.lock(f, filesystem.LOCK_EX)
                try:
                    data = f.read()
                    table = [filesystem.exchange_queue_t(*q) for q in json.loads(data)] if data.strip() else []
                    if binding not in table:
                        table.insert(0, binding)
                        f.seek(0)
                        f.write(dumps(table).encode())
                        f.truncate()
                finally:
                    filesystem.unlock(f)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
    # kombu keeps the file-system transport's bindings in one state per class; a subclass gets its own.
    global_state = filesystem.virtual.BrokerState()


class RedisChannel(redis.Channel):
    def close(self):
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()
            except Empty:
                pass
            except self.connection_errors:
                pass  # the poll died with the connection: nothing left to read, close the rest
        super().close()

    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise redis.get_redis_ConnectionError()("the broker connection was released")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(redis.Transport):
    Channel = RedisChannel
