"""An OTLP/HTTP endpoint for the tests and the benchmark: it answers every POST (an export
of spans) with 200 and keeps its body, as received (protobuf), in the folder named by its
argument. The standard library only: it runs in the generated service's own image.

    python otlp_sink.py /received    # listens on port 4318, OTLP/HTTP's

compose_service() is how the tests and the benchmark add it to a service's stack.
"""

import itertools
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FOLDER = Path(sys.argv[1]) if len(sys.argv) > 1 and __name__ == "__main__" else None
# What the stack's services export to (OTEL_EXPORTER_OTLP_ENDPOINT).
ENDPOINT = "http://otlp:4318"
PORT_OPEN = "import socket; socket.create_connection(('127.0.0.1', 4318), timeout=1)"
numbers = itertools.count()


def compose_service(image: str, received: Path | None = None) -> dict:
    """The sink as the compose service `otlp`, in `image` (the service's own, built by the
    same `up`), keeping what it receives in the host folder `received` when one is named."""
    kept = [f"{received}:/received"] if received else []
    return {
        "image": image,
        "pull_policy": "never",
        "entrypoint": ["python", "/otlp_sink.py", *(["/received"] if received else [])],
        # `up --wait` waits for it too.
        "healthcheck": {"test": ["CMD", "python", "-c", PORT_OPEN], "interval": "1s", "retries": 30},
        "volumes": [f"{Path(__file__).resolve()}:/otlp_sink.py:ro", *kept],
    }


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if FOLDER is not None:
            name = f"{next(numbers):06d}{self.path.replace('/', '-')}.pb"
            (FOLDER / name).write_bytes(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a line per export would be noise."""


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 4318), Sink).serve_forever()
