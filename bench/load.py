"""Requests per second against a URL on loopback, for a bounded time.

wrk (Debian package `wrk`) when installed: it takes little CPU from the server on a
2-core machine. Otherwise a Python client with keep-alive connections in threads, which
takes more; the result says which one ran, and both servers are measured with the same.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
import time
from urllib.parse import urlsplit

WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")


def requests_per_second(url: str, seconds: float = 10, connections: int = 32) -> tuple[float, str]:
    host = urlsplit(url).hostname
    assert host in {"127.0.0.1", "localhost", "::1"}, "load goes to loopback only"
    if shutil.which("wrk"):
        completed = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        match = WRK_RATE.search(completed.stdout)
        assert match, completed.stdout
        return float(match.group(1)), "wrk"
    return _python_client(url, seconds, min(connections, 8)), "python"


def _python_client(url: str, seconds: float, connections: int) -> float:
    parts = urlsplit(url)
    deadline = time.monotonic() + seconds
    counts = [0] * connections

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        while time.monotonic() < deadline:
            connection.request("GET", parts.path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                counts[index] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)
