"""moto_server, handling one request at a time.

DynamoDB applies each conditional write and each transaction atomically; moto's threaded server
does not (its backends take no locks), so under concurrent requests two conditional writes can
both pass. The concurrency tests must find our races, not the emulator's: this runs moto's own
WSGI app behind one lock, keeping HTTP/1.1 keep-alive and threads for the connections.

usage: python moto_serial.py -H 127.0.0.1 -p PORT [--tls-port PORT --cert PEM --key PEM]

With --tls-port, the same emulator (one state, one lock) also answers over TLS on that port with
the given certificate: the benchmark's production path, where functions reach AWS over HTTPS.

IAM: with moto's IAM enforcement on (INITIAL_NO_AUTH_ACTION_COUNT, or POST /moto-api/reset-auth,
as tests/iam_identities.py does), four moto 5.2.5 defects are worked around here, all inside the
lock, so that the IAM-enforced pass sees what AWS would do:
- form-encoded (awsQuery: SNS, SES v1, IAM, STS) requests: moto re-encodes the parsed form to
  check the signature, so a body the client encoded differently (aws-sdk-rust writes a space as
  %20, Python as +) fails with SignatureDoesNotMatch. The raw body is kept for the check.
- S3 presigned URLs (no Authorization header) end in a 500 (KeyError 'Authorization'): the
  signer's identity policies are evaluated here for s3:GetObject/PutObject, then the request
  runs with moto's check off.
- DynamoDB TransactWriteItems/TransactGetItems: moto asks for a dynamodb:TransactWriteItems
  permission (AWS has no such check: each contained Put/Update/Delete/ConditionCheck/Get needs
  PutItem/UpdateItem/DeleteItem/ConditionCheckItem/GetItem). Checked here per item, as AWS does.
- denials come back as awsQuery XML for every protocol, which JSON clients cannot parse (the
  Rust SDK reports code None): they are rewritten to the protocol's own error shape.
"""

import argparse
import io
import json
import re
import signal
import sys
import threading
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server, run_simple


class OneAtATime:
    """Also counts DynamoDB operations by name: GET /_counts reads them, DELETE /_counts resets
    (the benchmark's count of round trips per endpoint). GET /_requests answers how many
    requests of any service it has served (the benchmark's emulator round trips per cold start).
    GET /_messages?to=ADDRESS answers the mail and texts sent to one address (the tests' inbox)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.counts = {}
        self.requests = 0

    def __call__(self, environ, start_response):
        with self.lock:
            if environ.get("PATH_INFO") == "/_counts":
                if environ.get("REQUEST_METHOD") == "DELETE":
                    self.counts = {}
                body = json.dumps(self.counts).encode()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            if environ.get("PATH_INFO") == "/_requests":
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({"requests": self.requests}).encode()]
            if environ.get("PATH_INFO") == "/_messages":
                to = parse_qs(environ.get("QUERY_STRING", "")).get("to", [""])[0]
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps(messages_to(to)).encode()]
            self.requests += 1
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith("DynamoDB_"):
                operation = target.split(".", 1)[-1]
                self.counts[operation] = self.counts.get(operation, 0) + 1
            if not iam_enforced():
                return list(self.app(environ, start_response))
            if is_presigned(environ):
                return presigned(self.app, environ, start_response)
            if target.startswith("DynamoDB_") and target.endswith(
                (".TransactWriteItems", ".TransactGetItems")
            ):
                return transaction(self.app, environ, start_response)
            keep_raw_form_body(environ)
            try:
                return aws_shaped_errors(self.app, environ, start_response)
            finally:
                RAW_FORM_BODY[0] = None


def messages_to(to):
    """Every e-mail (SES) and SMS (SNS) sent to `to`, oldest first, e-mail before SMS, in the shape
    of the tests' `shared::notify::Message`. It reads the two message models' own lists: moto's
    /moto-api/data.json serialises every model instance the process ever made (every DynamoDB
    item too), so each read of it cost more as a test pass went on."""
    from moto.ses.models import Message as Email
    from moto.sns.models import SMS

    wanted = to.encode().lower()
    found = []
    for m in Email.instances_tracked:
        if any(a.encode().lower() == wanted for a in (m.destinations or {}).get("ToAddresses", [])):
            found.append({"channel": "email", "to": to, "subject": m.subject or "", "body": m.body or ""})
    for m in SMS.instances_tracked:
        if m.phone_number == to:
            found.append({"channel": "sms", "to": to, "subject": "", "body": m.message or ""})
    return found


def iam_enforced():
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


# The raw body of the form-encoded request being served (one at a time, under the lock).
RAW_FORM_BODY = [None]


def keep_raw_form_body(environ):
    if "HTTP_AUTHORIZATION" not in environ or not environ.get("CONTENT_TYPE", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        return
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    RAW_FORM_BODY[0] = raw


def install_signature_fix():
    from moto.iam import access_control

    original = access_control.IAMRequestBase._create_aws_request

    def _create_aws_request(self):
        request = original(self)
        if RAW_FORM_BODY[0] is not None:
            request.data = RAW_FORM_BODY[0]
        return request

    access_control.IAMRequestBase._create_aws_request = _create_aws_request


def is_presigned(environ):
    query = environ.get("QUERY_STRING", "")
    return "HTTP_AUTHORIZATION" not in environ and (
        "X-Amz-Signature=" in query or "Signature=" in query
    )


def presigned(app, environ, start_response):
    """What AWS checks for a presigned URL: the signer's policies, at request time. The
    signature itself is not verified here."""
    from moto.core.authorization import disable_iam_authentication
    from moto.iam.access_control import (
        CreateAccessKeyFailure,
        IAMPolicy,
        IAMUserAccessKey,
        PermissionResult,
    )
    from moto.iam.models import get_account_id_from

    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = (query.get("X-Amz-Credential") or query.get("AWSAccessKeyId") or [""])[0]
    key_id = credential.split("/")[0]
    method = environ.get("REQUEST_METHOD", "GET")
    action = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject"}.get(
        method, "s3:" + method.title() + "Object"
    )
    resource = "arn:aws:s3:::" + environ.get("PATH_INFO", "/").lstrip("/")
    try:
        user = IAMUserAccessKey(get_account_id_from(key_id), "aws", key_id, {})
        results = [
            IAMPolicy(p).is_action_permitted(action, resource) for p in user.collect_policies()
        ]
        allowed = PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results
        code = "AccessDenied"
    except CreateAccessKeyFailure:
        allowed, code = False, "InvalidAccessKeyId"
    if not allowed:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{action} denied to {key_id} (presigned URL)</Message></Error>"
        ).encode()
        start_response("403 Forbidden", [("Content-Type", "application/xml")])
        return [body]
    with disable_iam_authentication():
        return list(app(environ, start_response))


TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def transaction(app, environ, start_response):
    """Signature checked by moto's own IAMRequest, then one permission check per contained
    action (Resource "*", as moto evaluates every DynamoDB action)."""
    from moto.core.authorization import disable_iam_authentication
    from moto.iam.access_control import IAMRequest
    from moto.iam.models import get_account_id_from
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Request

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    request = Request(environ)
    key_id = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")[0]
    try:
        items = json.loads(raw or b"{}").get("TransactItems", [])
        actions = sorted({TRANSACT_ACTIONS[k] for item in items for k in item if k in TRANSACT_ACTIONS})
        check = IAMRequest(
            account_id=get_account_id_from(key_id),
            method=environ["REQUEST_METHOD"],
            path=environ.get("RAW_URI") or environ.get("PATH_INFO", "/"),
            data={},
            body=raw,
            headers=request.headers,
            action="TransactWriteItems",
        )
        check.check_signature()
        for action in actions:
            check._action = action
            check.check_action_permitted("*")
    except HTTPException as e:
        code = JSON_CODES.get(getattr(e, "error_type", ""), getattr(e, "error_type", "Error"))
        message = getattr(e, "message", str(e))
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
        start_response(
            f"{e.code} Forbidden",
            [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code),
             ("Content-Length", str(len(body)))],
        )
        return [body]
    with disable_iam_authentication():
        return list(app(environ, start_response))


JSON_CODES = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}
MOTO_QUERY_ERROR = re.compile(
    rb"<ErrorResponse><Errors><Error><Code>(.*?)</Code><Message>(.*?)</Message>", re.S
)


def aws_shaped_errors(app, environ, start_response):
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    body = b"".join(app(environ, capture))
    status, headers = captured["status"], captured["headers"]
    match = MOTO_QUERY_ERROR.search(body) if status[:3] in ("401", "403") else None
    if match:
        from xml.sax.saxutils import escape, unescape

        code, message = match.group(1).decode(), unescape(match.group(2).decode())
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
        service = scope[3] if len(scope) > 3 else ""
        json_protocol = "json" in environ.get("CONTENT_TYPE", "") or environ.get(
            "PATH_INFO", ""
        ).startswith("/v2/")
        keep = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
        if json_protocol:
            code = JSON_CODES.get(code, code)
            body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
            headers = keep + [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
        else:
            if service == "sns" and code == "AccessDenied":
                code = "AuthorizationError"
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{escape(message)}</Message></Error></ErrorResponse>"
            ).encode()
            headers = keep + [("Content-Type", "text/xml")]
        headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    install_signature_fix()
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    if args.tls_port:
        tls = make_server(
            args.host,
            args.tls_port,
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
            ssl_context=(args.cert, args.key),
        )
        threading.Thread(target=tls.serve_forever, daemon=True).start()
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
