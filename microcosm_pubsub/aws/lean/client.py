"""The lean transport: the SQS and SNS calls that scale with messages, sent without botocore's per-call machinery.

A `LeanClient` stands in for a botocore SQS or SNS client. The operations in `LEAN_OPERATIONS` it sends itself:
request bodies and result parsers compiled once from botocore's service model (`protocols`), SigV4 signing with
the credentials botocore resolved (refreshed as botocore refreshes them), the client's endpoint, region, timeouts
and pool size, and botocore's standard retry mode, built from botocore's own retry classes. Error responses are
parsed by botocore's parsers and raised as the client's own exception classes, so callers cannot tell the two
apart. Every other attribute is the botocore client's.

It steps aside, handing a call to botocore, for input its serializers do not take (botocore then raises its own
validation error), for an operation someone has hooked into with botocore's events after the client was made,
and while moto's in-process mock is on.
"""
from __future__ import annotations

import logging
import platform
import ssl
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import botocore
import botocore.parsers
from botocore import xform_name
from botocore.exceptions import BotoCoreError
from botocore.httpsession import get_cert_path
from botocore.model import OperationModel
from botocore.retries import quota, standard
from botocore.utils import get_environ_proxies, normalize_url_path

from microcosm_pubsub.aws.lean.http import Endpoint, Response
from microcosm_pubsub.aws.lean.protocols import Unsupported, json_body, json_result, query_body, query_result
from microcosm_pubsub.aws.lean.signing import Signer


logger = logging.getLogger(__name__)

LEAN_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "sqs": ("ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch", "SendMessage", "SendMessageBatch"),
    "sns": ("Publish", "PublishBatch"),
}
TRANSPORTS = ("lean", "botocore")

USER_AGENT = (f"microcosm-pubsub-lean Botocore/{botocore.__version__} "
              f"Python/{platform.python_version()} {platform.system()}/{platform.release()}")

Clock = Callable[[], datetime]


class _Operation(NamedTuple):
    model: OperationModel
    body: Callable[[Mapping[str, Any]], bytes]
    result: Callable[[bytes, dict[str, str]], dict[str, Any]]
    # Header lines sent as they are, and the same headers lower-cased for the signature
    lines: tuple[str, ...]
    signed: tuple[tuple[str, str], ...]


def _mocked_in_process() -> bool:
    """Whether moto's in-process mock (`mock_aws`) is on: it answers botocore's requests in `before-send`.

    moto registers its stubber with every client botocore makes once moto is imported, and switches it on and
    off as tests enter and leave `mock_aws`; a service's tests written that way must reach it, not the network.
    """
    models = sys.modules.get("moto.core.models")
    return models is not None and bool(getattr(getattr(models, "botocore_stubber", None), "enabled", False))


def _compile(operation: OperationModel) -> _Operation:
    metadata = operation.metadata
    if metadata["protocol"] == "json":
        headers = [("X-Amz-Target", f"{metadata['targetPrefix']}.{operation.name}"),
                   ("Content-Type", f"application/x-amz-json-{metadata['jsonVersion']}")]
        if "awsQueryCompatible" in metadata:
            headers.append(("x-amzn-query-mode", "true"))
        body, result = json_body(operation), json_result(operation)
    elif metadata["protocol"] == "query":
        headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
        body, result = query_body(operation), query_result(operation)
    else:
        raise Unsupported(metadata["protocol"])
    return _Operation(operation, body, result, tuple(f"{name}: {value}" for name, value in headers),
                      tuple((name.lower(), value) for name, value in headers))


# The botocore releases the differential tests have run against: the transport reaches into its retry classes,
# parsers and a client's credentials, which older releases shaped differently
TESTED_BOTOCORE = (1, 44)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def _not_lean_because(client: Any) -> str | None:
    """Why `client` must stay on botocore's transport, or None."""
    if _version(botocore.__version__) < TESTED_BOTOCORE:
        tested = ".".join(map(str, TESTED_BOTOCORE))
        return (f"botocore {botocore.__version__} is older than the lean transport is tested with ({tested}); "
                f"pip install 'botocore>={tested}'")
    meta = client.meta
    config = meta.config
    service = meta.service_model.service_name
    if service not in LEAN_OPERATIONS:
        return f"the lean transport serves SQS and SNS, not {service}"
    if (config.retries or {}).get("mode", "standard") != "standard":
        return f"retry mode {config.retries.get('mode')!r} (the lean transport retries as the standard mode)"
    if config.signature_version not in (None, "v4", "s3v4"):
        return f"signature version {config.signature_version!r}"
    if config.proxies or get_environ_proxies(meta.endpoint_url):
        return "a proxy is configured"
    if config.client_cert:
        return "a client certificate is configured"
    if urlsplit(meta.endpoint_url).scheme not in ("http", "https"):
        return f"endpoint {meta.endpoint_url!r}"
    if not callable(getattr(client, "_get_credentials", None)):
        return "this botocore does not show a client's credentials"
    return None


def lean_client(client: Any, *, clock: Clock | None = None, verify: bool | str | None = True) -> Any:
    """`client` with its message calls on the lean transport; `client` itself where that cannot apply.

    `clock` gives the signing time (tests pin it); `verify` is botocore's: True for the default CA bundle, a
    bundle's path, or False.
    """
    service = client.meta.service_model.service_name
    reason = _not_lean_because(client)
    if reason is None:
        try:
            return LeanClient(client, clock=clock, verify=verify)
        except Exception as error:
            # A botocore whose internals moved: its own transport still works, only slower
            reason = f"it cannot be built on this botocore ({type(error).__name__}: {error})"
            logger.warning("%s stays on botocore's transport: %s", service, reason)
            return client
    logger.debug("%s stays on botocore's transport: %s", service, reason)
    return client


class LeanClient:
    """A botocore SQS or SNS client whose message calls go through the lean transport."""

    def __init__(self, client: Any, *, clock: Clock | None = None, verify: bool | str | None = True) -> None:
        self._client = client
        self.lean_sent: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        meta = client.meta
        model = meta.service_model
        config = meta.config
        self._exceptions = client.exceptions
        parts = urlsplit(meta.endpoint_url)
        scheme = parts.scheme
        host = parts.hostname or ""
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        bracketed = f"[{host}]" if ":" in host else host
        self._host = bracketed if port == default_port else f"{bracketed}:{port}"
        # As botocore joins them: the endpoint's path, or "/"; sent with what is not allowed in a path escaped (as
        # urllib3 sends it), signed normalized and escaped once more (as SigV4Auth signs it)
        path = parts.path or "/"
        self._path = quote(path, safe="/%:@!$&'()*+,;=~")
        self._signed_path = quote(normalize_url_path(path), safe="/~")
        tls = None
        if scheme == "https":
            bundle = verify if isinstance(verify, str) else get_cert_path(True)
            tls = ssl.create_default_context(cafile=bundle if verify is not False else None)
            if verify is False:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        self._endpoint = Endpoint(
            f"{scheme}://{self._host}{self._path}", host, port, tls, float(config.connect_timeout),
            float(config.read_timeout), int(config.max_pool_connections),
        )
        self._signer = Signer(meta.region_name, model.signing_name)
        self._credentials = client._get_credentials()
        self._clock = clock
        retries = config.retries or {}
        self._max_attempts = int(retries.get("total_max_attempts") or standard.DEFAULT_MAX_ATTEMPTS)
        service_id = model.service_id.hyphenize()
        adapter = standard.RetryEventAdapter()
        detector = standard.ThrottlingErrorDetector(adapter)
        # A quota of its own, as large as botocore's: retries of these calls cannot starve the client's others
        self._quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
        self._retry = standard.RetryHandler(
            retry_policy=standard.RetryPolicy(
                retry_checker=standard.StandardRetryConditions(max_attempts=self._max_attempts),
                retry_backoff=standard.ExponentialBackoff(service_name=service_id, throttling_detector=detector),
            ),
            # The stubs say RetryQuota; botocore hands it a RetryQuotaChecker, as here
            retry_event_adapter=adapter, retry_quota=self._quota, service_name=service_id,  # type: ignore[arg-type]
        )
        self._parser = botocore.parsers.create_parser(model.protocol)
        self._operations: dict[str, _Operation] = {}
        self._hooked: set[str] = set()
        for name in LEAN_OPERATIONS[model.service_name]:
            self._operations[name] = _compile(model.operation_model(name))
            setattr(self, xform_name(name), self._caller(name))
        self._watch_hooks(meta.events, service_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # isinstance() answers as for the botocore client it stands in for (a service's own checks, botocore's stubber)
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._client)

    def __repr__(self) -> str:
        return f"<lean {self._client!r}>"

    def close(self) -> None:
        self._endpoint.close()
        self._client.close()

    def _watch_hooks(self, events: Any, service_id: str) -> None:
        """Hand an operation to botocore once anyone registers a botocore event handler that would see it."""
        def watch(register: Callable[..., Any]) -> Callable[..., Any]:
            def watched(event_name: str, *args: Any, **kwargs: Any) -> Any:
                parts = event_name.split(".")
                if len(parts) < 2 or parts[1] in (service_id, "*"):
                    named = parts[2] if len(parts) > 2 and parts[2] != "*" else None
                    self._hooked.update(op for op in self._operations if named in (None, op))
                return register(event_name, *args, **kwargs)
            return watched
        for method in ("register", "register_first", "register_last"):
            setattr(events, method, watch(getattr(events, method)))

    def _caller(self, name: str) -> Callable[..., dict[str, Any]]:
        method = xform_name(name)

        def call(**params: Any) -> dict[str, Any]:
            if name in self._hooked or self._credentials is None or _mocked_in_process():
                # No credentials: botocore raises NoCredentialsError, which callers know
                self.fallbacks[name] += 1
                return getattr(self._client, method)(**params)  # type: ignore[no-any-return]
            operation = self._operations[name]
            try:
                body = operation.body(params)
            except Unsupported:
                self.fallbacks[name] += 1
                return getattr(self._client, method)(**params)  # type: ignore[no-any-return]
            return self._send(operation, body)
        call.__name__ = method
        call.__doc__ = f"{name}, sent by the lean transport (botocore's {method} otherwise)."
        return call

    def _amz_date(self) -> str:
        if self._clock is None:
            return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return self._clock().strftime("%Y%m%dT%H%M%SZ")

    def _head(self, operation: _Operation, body: bytes, invocation: str, attempt: int) -> bytes:
        credentials = self._credentials.get_frozen_credentials()
        amz_date = self._amz_date()
        signed = [*operation.signed, ("host", self._host), ("x-amz-date", amz_date)]
        lines = [f"POST {self._path} HTTP/1.1", f"Host: {self._host}", "Accept-Encoding: identity", *operation.lines,
                 f"User-Agent: {USER_AGENT}", f"X-Amz-Date: {amz_date}"]
        if credentials.token:
            signed.append(("x-amz-security-token", credentials.token))
            lines.append(f"X-Amz-Security-Token: {credentials.token}")
        authorization = self._signer.authorization(
            credentials.access_key, credentials.secret_key, amz_date, self._signed_path, signed, body)
        lines += [f"Authorization: {authorization}", f"amz-sdk-invocation-id: {invocation}",
                  f"amz-sdk-request: attempt={attempt}; max={self._max_attempts}",
                  f"Content-Length: {len(body)}", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def _send(self, operation: _Operation, body: bytes) -> dict[str, Any]:
        invocation = str(uuid.uuid4())
        context: dict[str, Any] = {}
        name = operation.model.name

        def sent() -> None:
            self.lean_sent[name] += 1
        attempt = 1
        while True:
            caught: BotoCoreError | None = None
            http: Response | None = None
            parsed: dict[str, Any] | None = None
            try:
                http = self._endpoint.request(self._head(operation, body, invocation, attempt), body, sent)
            except BotoCoreError as error:
                caught = error
            else:
                parsed = self._parse(operation, http)
                if http.status_code < 300:
                    # botocore calls this from its after-call event, with the request context (a dict, not the
                    # RetryContext the stubs say)
                    self._quota.release_retry_quota(context, http)  # type: ignore[arg-type]
                    break
            delay = self._retry.needs_retry(
                response=None if http is None else (http, parsed), attempts=attempt, operation=operation.model,
                caught_exception=caught, request_dict={"context": context},
            )
            # None or False: no retry; 0.0 is a retry with no wait (the jitter can draw it)
            if delay is None or delay is False:
                break
            time.sleep(delay)
            attempt += 1
        if caught is not None:
            raise caught
        assert http is not None and parsed is not None
        if "ResponseMetadata" in parsed:
            parsed["ResponseMetadata"]["RetryAttempts"] = attempt - 1
        if http.status_code >= 300:
            info = parsed.get("Error", {})
            # SQS's modeled errors are found by their shape's name, which the query-compatible code displaced
            code = info.get("QueryErrorCode") or info.get("Code")
            raise self._exceptions.from_code(code)(parsed, operation.model.name)
        return parsed

    def _parse(self, operation: _Operation, response: Response) -> dict[str, Any]:
        """The parsed response, with botocore's response metadata; errors and oddities parsed by botocore."""
        if response.status_code < 300:
            try:
                parsed = operation.result(response.content, response.headers)
            except Exception:
                # Not the JSON or XML expected: botocore's parser decides what it means
                logger.debug("%s: botocore parses an unexpected response", operation.model.name, exc_info=True)
            else:
                metadata = parsed.setdefault("ResponseMetadata", {})
                metadata["HTTPStatusCode"] = response.status_code
                metadata["HTTPHeaders"] = response.headers
                return parsed
        raw = {"status_code": response.status_code, "headers": response.headers, "body": response.content,
               "context": {"operation_name": operation.model.name}}
        parsed = self._parser.parse(raw, operation.model.output_shape)  # type: ignore[arg-type]
        code = parsed.get("Error", {}).get("Code") if response.status_code >= 300 else None
        error_shape = operation.model.service_model.shape_for_error_code(code) if code else None
        if error_shape is not None:
            parsed.update(self._parser.parse(raw, error_shape))
        return parsed  # type: ignore[no-any-return]
