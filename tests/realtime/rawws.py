"""A raw RFC 6455 client for frame-limit tests: it can announce a frame it never finishes sending."""
from __future__ import annotations

import base64
import os
import socket
import struct


class RawSocket:
    """One websocket over a plain TCP socket (client frames masked with a zero key, RFC 6455 §5.3)."""

    def __init__(self, port: int, *, headers: dict[str, str] | None = None, timeout: float = 30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall((f"GET /ws/events/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{extra}\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])

    @staticmethod
    def header(length: int, opcode: int = 0x1) -> bytes:
        """A final, masked frame header announcing `length` payload bytes (zero mask key)."""
        if length < 126:
            return bytes([0x80 | opcode, 0x80 | length]) + b"\0\0\0\0"
        if length < 2**16:
            return bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", length) + b"\0\0\0\0"
        return bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", length) + b"\0\0\0\0"

    def send_text(self, text: str) -> None:
        data = text.encode()
        self.sock.sendall(self.header(len(data)) + data)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server without a close frame")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the server's next frame (server frames are not masked)."""
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, self._read(length)

    def close_code(self) -> int | None:
        """Read frames until the server's close frame; its status code."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def refusal(self) -> int | str:
        """How the server ended the socket: its close code, or "dropped" when it closed the TCP
        connection without a close frame (autobahn/daphne fail a connection that way)."""
        try:
            return self.close_code()
        except (ConnectionError, OSError):
            return "dropped"

    def close(self) -> None:
        self.sock.close()
