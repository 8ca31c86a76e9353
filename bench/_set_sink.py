"""A push receiver for bench_events.py that only counts: 202 to every POST, keep-alive, and
``GET /count`` answers how many POSTs it has taken. Verifying each SET would make the receiver
the bottleneck; tests/set_receiver.py verifies them (tests/test_events*.py).

    python bench/_set_sink.py [--port 0]

Listens on 127.0.0.1 only and prints ``listening on 127.0.0.1:PORT`` once it accepts.
"""

from __future__ import annotations

import argparse
import asyncio

HOST = "127.0.0.1"
_MAX_HEAD = 16 * 1024
_MAX_BODY = 64 * 1024


class Sink:
    def __init__(self) -> None:
        self.taken = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > _MAX_HEAD:
                    break
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length > _MAX_BODY:
                    break
                await reader.readexactly(length)
                if method == "POST":
                    self.taken += 1
                    writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                else:
                    body = str(self.taken).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                    )
                await writer.drain()
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            writer.close()


async def main(port: int) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.serve, HOST, port, limit=_MAX_HEAD)
    print(f"listening on {HOST}:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))
