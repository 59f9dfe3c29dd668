"""Steady HTTP load from inside a stack's network, for the multi-replica tests.

Runs in a container on the stack's overlay network (standard library only; the app's
image has the interpreter): `python - HOST PORT PATH WORKERS PAUSE [CA_FILE]`. Each request
resolves HOST again (DNS round robin over the replicas, endpoint_mode dnsrr), opens its
own connection and is recorded. On SIGTERM it stops and prints one JSON document:
`[[started, seconds, status or error], ...]`, `started` in seconds since the epoch.
"""

from __future__ import annotations

import http.client
import json
import random
import signal
import socket
import ssl
import sys
import threading
import time

host, port, path, workers, pause = (
    sys.argv[1],
    int(sys.argv[2]),
    sys.argv[3],
    int(sys.argv[4]),
    float(sys.argv[5]),
)
# A sixth argument: HTTPS to HOST by name, trusting the CA certificate in that file (a
# stack's proxy), one connection a request.
tls = ssl.create_default_context(cafile=sys.argv[6]) if len(sys.argv) > 6 else None
stop = threading.Event()
records: list[list[object]] = []


def one_request() -> list[object]:
    started = time.time()
    begun = time.perf_counter()
    try:
        if tls is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=10, context=tls
            )
        else:
            address = random.choice(socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM))[4][0]
            connection = http.client.HTTPConnection(address, port, timeout=10)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            outcome: object = response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        outcome = f"{type(error).__name__}: {error}"
    return [round(started, 4), round(time.perf_counter() - begun, 5), outcome]


def worker() -> None:
    while not stop.is_set():
        records.append(one_request())
        time.sleep(pause)


signal.signal(signal.SIGTERM, lambda *_: stop.set())
threads = [threading.Thread(target=worker) for _ in range(workers)]
for thread in threads:
    thread.start()
print("load: started", file=sys.stderr, flush=True)
while not stop.is_set():
    stop.wait(0.5)
for thread in threads:
    thread.join()
json.dump(records, sys.stdout)
