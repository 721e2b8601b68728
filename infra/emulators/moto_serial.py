"""moto_server with every request serialised.

moto's backends are not thread-safe: concurrent TransactWriteItems can both
pass their conditions or fail with "dictionary changed size during iteration".
DynamoDB itself is atomic per item and per transaction; one global lock gives
moto the same guarantee while keeping threaded, keep-alive connections.

Usage: python moto_serial.py HOST PORT
"""
import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    with lock:
        # Materialise the body inside the lock: the backend work may be lazy.
        return list(app(environ, start_response))


run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)
