"""Buffered socket reads for the controller's paho client: one `recv` for many packets.

paho-mqtt 2.x reads a packet with at least four `recv` calls (command byte, each byte of the
remaining length, then the body) and handles one packet per readable event, so every event
batch costs a trip through the event loop's selector plus four system calls. The controller
receives thousands of batches a second; `buffer_reads` makes paho's `_sock_recv` serve those
small reads from one large `recv`, and its `loop_read` go on until that buffer is used up
(bench/ingest.py: the controller's event-loop thread, 1.25–1.67 → 0.99–1.23 CPU s per 500,000
events). Data held in the buffer is invisible to the selector, so `loop_read` returns only once
the buffer is empty: nothing can be left waiting for a readable event that will not come.

It relies on two private paho methods (`_sock_recv`, `loop_read`); `buffer_reads` checks they
are there and otherwise leaves the client alone and logs why.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
READ_SIZE = 256 * 1024


class _Buffer:
    __slots__ = ("data", "pos")

    def __init__(self) -> None:
        self.data = b""
        self.pos = 0


def buffer_reads(paho_client: Any) -> bool:
    """Patch one connected paho client (`aiomqtt.Client._client`); True when active."""
    cls = type(paho_client)
    if not (callable(getattr(cls, "_sock_recv", None)) and callable(getattr(cls, "loop_read",
                                                                            None))):
        log.warning("paho client has no _sock_recv/loop_read; reads stay unbuffered")
        return False
    buf = _Buffer()
    recv = cls._sock_recv  # the original: TLS want-read/write and a closed socket handled there
    read_packets = cls.loop_read

    def sock_recv(bufsize: int) -> bytes:
        data, pos = buf.data, buf.pos
        if pos >= len(data):
            data = recv(paho_client, max(bufsize, READ_SIZE))  # BlockingIOError when none
            pos = 0
            if not data:
                return b""  # end of stream: paho sees the connection lost
        end = pos + bufsize
        buf.data, buf.pos = data, min(end, len(data))
        return data[pos:end]

    def loop_read(max_packets: int = 1) -> Any:
        while True:
            rc = read_packets(paho_client, max_packets)
            if rc or buf.pos >= len(buf.data):
                return rc

    paho_client._sock_recv = sock_recv
    paho_client.loop_read = loop_read
    return True
