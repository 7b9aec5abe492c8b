"""A container's attached stdout and stderr, read with the Docker SDK's frame reader under the host's clock.

The engine multiplexes both streams on the attach socket in frames (an 8-byte header, then the payload);
`docker.utils.socket.frames_iter` parses them. It blocks in ``poll()`` without a timeout, which a runner
with a wall-clock deadline cannot afford, so it runs on a thread of its own and hands frames over a small
queue: the runner waits on the queue with its own timeout and stays in charge of deadlines and caps.
Hanging up the attachment (a socket shutdown) wakes the reader, which sees the end and stops.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading

from docker.utils.socket import STDERR, STDOUT, frames_iter

__all__ = ["STDERR", "STDOUT", "OutputFrames"]

logger = logging.getLogger(__name__)

# Frames waiting for the runner; a full queue makes the reader wait, so a flood stays in the engine's
# buffers (and the socket's), not in ours.
QUEUE_FRAMES = 16
PUT_RETRY_S = 0.1
JOIN_S = 2.0

Frame = tuple[int, bytes]


class OutputFrames:
    """The frames ``(stream, payload)`` of one attach socket, `STDOUT` or `STDERR`, as they arrive.

    A frame's payload may come in several pieces, each its own item. `get` waits at most its timeout;
    `ended` is set once the stream is over (the container closed it, or the socket broke: see `error`).
    Call `close` when done, after hanging up the socket if the stream has not ended.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._closing = threading.Event()
        self.ended = False
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._read, args=(sock,), name="sandbox-output", daemon=True)
        self._thread.start()

    def get(self, timeout_s: float) -> Frame | None:
        """The next frame, or None if none came within `timeout_s` seconds or the stream is over."""
        if self.ended:
            return None
        try:
            item = self._queue.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None
        if item is None:
            self.ended = True
        return item

    def close(self) -> None:
        """Stop handing frames over and wait briefly for the reader to finish."""
        self._closing.set()
        self._thread.join(JOIN_S)
        if self._thread.is_alive():  # the socket was not hung up: the daemon thread ends with the socket
            logger.warning("sandbox output reader still waiting on its socket")

    def _read(self, sock: socket.socket) -> None:
        try:
            for frame in frames_iter(sock, tty=False):
                if not self._put(frame):
                    return
        except Exception as exc:  # a broken socket (OSError) or the SDK's SocketError
            self.error = exc
        self._put(None)

    def _put(self, item: Frame | None) -> bool:
        """Queue `item`, waiting while the queue is full; False once `close` was called."""
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=PUT_RETRY_S)
                return True
            except queue.Full:
                continue
        return False
