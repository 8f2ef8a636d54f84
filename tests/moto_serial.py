"""moto_server, handling one request at a time.

DynamoDB applies each conditional write and each transaction atomically; moto's threaded server
does not (its backends take no locks), so under concurrent requests two conditional writes can
both pass. The concurrency tests must find our races, not the emulator's: this runs moto's own
WSGI app behind one lock, keeping HTTP/1.1 keep-alive and threads for the connections.

usage: python moto_serial.py -H 127.0.0.1 -p PORT
"""

import argparse
import json
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class OneAtATime:
    """Also counts DynamoDB operations by name: GET /_counts reads them, DELETE /_counts resets
    (the benchmark's count of round trips per endpoint)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = {}

    def __call__(self, environ, start_response):
        with self.lock:
            if environ.get("PATH_INFO") == "/_counts":
                if environ.get("REQUEST_METHOD") == "DELETE":
                    self.counts = {}
                body = json.dumps(self.counts).encode()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith("DynamoDB_"):
                operation = target.split(".", 1)[-1]
                self.counts[operation] = self.counts.get(operation, 0) + 1
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        OneAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
