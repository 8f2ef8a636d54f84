"""The Lambda Runtime API loop for the benchmark's Python peer (`loans.py`), as Lambda's Python
runtime runs a handler: import the module (its init), then fetch an event, call the handler, post
the answer, forever. Written for the benchmark only."""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import loans  # noqa: E402  (the init: imports, clients, keys)


class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "loans-python")
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))

    def __init__(self, request_id):
        self.aws_request_id = request_id


def main():
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation/"
    while True:
        with urllib.request.urlopen(base + "next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        answer = loans.handler(event, Context(request_id))
        post = urllib.request.Request(
            base + request_id + "/response", data=json.dumps(answer).encode(), method="POST"
        )
        urllib.request.urlopen(post).read()


main()
