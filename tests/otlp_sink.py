"""An OTLP/HTTP endpoint for the tests and the benchmark: it answers every POST (an export
of spans) with 200 and keeps its body, as received (protobuf), in the folder named by its
argument. The standard library only: it runs in the generated service's own image.

    python otlp_sink.py /received    # listens on port 4318, OTLP/HTTP's
"""

import itertools
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FOLDER = Path(sys.argv[1]) if len(sys.argv) > 1 else None
numbers = itertools.count()


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
