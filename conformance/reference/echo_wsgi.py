"""The echo application for WSGI servers: the reference the rgi vectors are
checked against, printing the same JSON object as rgi's examples/echo.

    /usr/bin/python3 -m gunicorn --worker-class gthread --threads 4 \
        --chdir conformance/reference --bind 127.0.0.1:PORT echo_wsgi:application

Every CGI variable of the environ (upper-case keys with string values),
the WSGI keys rgi reports too, and the body's length and SHA-256.
WSGI strings carry bytes as latin-1 (PEP 3333); they are turned back into
the UTF-8 text they encode so that the two echo applications compare.
"""

import hashlib
import json


def _text(value):
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    out = {k: _text(v) for k, v in environ.items() if k.isupper() and isinstance(v, str)}
    out["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
    out["wsgi.multithread"] = bool(environ["wsgi.multithread"])
    out["wsgi.multiprocess"] = bool(environ["wsgi.multiprocess"])
    out["body_length"] = len(body)
    out["body_sha256"] = hashlib.sha256(body).hexdigest()
    data = json.dumps(out, indent=2, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
