"""A Kubernetes Service's stand-in on a podman network: listen on the Service's ports, forward to the pod's.

    python3 service_proxy.py PORT:HOST:TARGET_PORT ...

It runs inside the base stand-in (standard library only) under the Service's name as network alias, so a
client uses the very URL the cluster gives it (http://stock-backend), as kube-proxy would forward it.
"""

from __future__ import annotations

import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def handler(host: str, port: int):
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError as error:
            print(f"service_proxy: {host}:{port} unreachable: {error}", file=sys.stderr, flush=True)
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    return handle


async def serve(forwards: list[tuple[int, str, int]]) -> None:
    # Every interface of the container, which is on the podman network only.
    any_address = "0.0.0.0"  # noqa: S104
    servers = [
        await asyncio.start_server(handler(host, target), any_address, port)
        for port, host, target in forwards
    ]
    print(f"service_proxy: forwarding {forwards}", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def parse(argument: str) -> tuple[int, str, int]:
    port, host, target = argument.split(":")
    return int(port), host, int(target)


if __name__ == "__main__":
    try:
        forwards = [parse(argument) for argument in sys.argv[1:]]
    except ValueError:
        sys.exit(f"usage: {sys.argv[0]} PORT:HOST:TARGET_PORT ... (got {sys.argv[1:]})")
    if not forwards:
        sys.exit(f"usage: {sys.argv[0]} PORT:HOST:TARGET_PORT ...")
    asyncio.run(serve(forwards))
