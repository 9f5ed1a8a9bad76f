"""repromatrix's fault injector: a CONNECT proxy that cuts each tunnel mid-download.

Forwards tunnels both ways, and closes a tunnel once more than CUT_AFTER bytes have gone from
the server to the client: index pages get through, a large wheel download breaks off midway,
so pip's retry and IncompleteRead paths run. Every cut ends the connection at once, so a
cell can never hang on it. Standard library only; one log line per tunnel.
"""

import asyncio
import os

CUT_AFTER = int(os.environ.get("CUT_AFTER", str(1024 * 1024)))
PORT = int(os.environ.get("PORT", "3131"))


async def pipe(reader, writer, count, limit=None):
    """Copy until EOF, or until `limit` bytes have passed; count[0] holds the bytes so far."""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            if limit is not None and count[0] + len(chunk) > limit:
                writer.write(chunk[: limit - count[0]])
                count[0] = limit
                break
            writer.write(chunk)
            count[0] += len(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def handle(client_r, client_w):
    try:
        head = await asyncio.wait_for(client_r.readuntil(b"\r\n\r\n"), 30)
        method, target = head.split(b"\r\n")[0].decode().split(" ")[:2]
        if method != "CONNECT":
            client_w.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        server_r, server_w = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, OSError) as e:
        print("refused:", e, flush=True)
        client_w.close()
        return
    client_w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    sent, got = [0], [0]
    up = asyncio.ensure_future(pipe(client_r, server_w, sent))
    down = asyncio.ensure_future(pipe(server_r, client_w, got, CUT_AFTER))
    await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
    for writer in (client_w, server_w):
        writer.close()
    for task in (up, down):
        task.cancel()
    got = got[0]
    print("%s: %d bytes to the client%s" % (target, got, ", then cut" if got >= CUT_AFTER else ""), flush=True)


async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", PORT)
    print("fault injector listening on %d, cutting tunnels after %d bytes" % (PORT, CUT_AFTER), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
