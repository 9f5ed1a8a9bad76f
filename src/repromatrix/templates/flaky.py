"""repromatrix's fault injector: a CONNECT proxy that cuts (or stalls) each tunnel mid-download.

Forwards tunnels both ways. On PORT it closes a tunnel once more than CUT_AFTER bytes have gone
from the server to the client: index pages get through, a large wheel download breaks off
midway, so pip's retry and IncompleteRead paths run. On STALL_PORT it stops forwarding at that
point instead and holds the tunnel open, sending nothing more: the stalled link behind pip's
`Read timed out`. A stalled tunnel is closed after STALL_FOR seconds at the latest, so nothing
can hang on it for ever. Standard library only; one log line per tunnel.
"""

import asyncio
import os

CUT_AFTER = int(os.environ.get("CUT_AFTER", str(1024 * 1024)))
PORT = int(os.environ.get("PORT", "3131"))
STALL_PORT = int(os.environ.get("STALL_PORT", "3132"))
STALL_FOR = float(os.environ.get("STALL_FOR", "300"))


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


async def handle(client_r, client_w, stall=False):
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
    stalled = stall and got[0] >= CUT_AFTER
    if stalled:  # hold the tunnel open, sending nothing, until the client gives up (or STALL_FOR)
        server_w.close()
        try:
            await asyncio.wait_for(up, STALL_FOR)
        except asyncio.TimeoutError:
            pass
    for writer in (client_w, server_w):
        writer.close()
    for task in (up, down):
        task.cancel()
    got = got[0]
    how = ", then stalled until the client closed" if stalled else ", then cut" if got >= CUT_AFTER else ""
    print("%s: %d bytes to the client%s" % (target, got, how), flush=True)


async def main():
    cutting = await asyncio.start_server(handle, "0.0.0.0", PORT)
    stalling = await asyncio.start_server(lambda r, w: handle(r, w, stall=True), "0.0.0.0", STALL_PORT)
    print("fault injector listening on %d, cutting tunnels after %d bytes; on %d, stalling them"
          % (PORT, CUT_AFTER, STALL_PORT), flush=True)
    async with cutting, stalling:
        await asyncio.gather(cutting.serve_forever(), stalling.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())
