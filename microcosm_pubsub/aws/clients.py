"""The boto3 SNS and SQS clients, each its own graph binding, configured from the graph."""
# A testing graph with no endpoint gets the toolkit's stubs (built by name, `doubles.py`): decided here only
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import NoRegionError, ProfileNotFound

from microcosm_pubsub.aws.lean import LEAN_OPERATIONS, TRANSPORTS, lean_client
from microcosm_pubsub.graph.config import defaults, flag, runner_setting, typed
from microcosm_pubsub.graph.doubles import SNS_CLIENT, SQS_CLIENT, build_double
from microcosm_pubsub.wire.errors import ConfigurationError


if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# New sessions are made one at a time: each adds boto3's model folder to the shared loader's search path
_session_lock = threading.Lock()


@cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def new_session(**kwargs: Any) -> boto3.session.Session:
    """A boto3 session whose botocore models are read once per process, not once per session.

    Each new session would parse botocore's JSON again (the endpoint rules alone take tens of milliseconds),
    which made a client cost about 90 ms; with the loader shared it costs about 20.
    """
    core = botocore.session.Session()
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    with _session_lock:
        session = boto3.session.Session(botocore_session=core, **kwargs)
        # boto3 appends its own model folder each time: keep one entry of it
        paths = loader.search_paths
        while len(paths) > 1 and paths[-1] in paths[:-1]:
            paths.pop()
    return session


def transport_of(config: Mapping[str, Any], namespace: str) -> str:
    """The `transport` a binding's configuration asks for ("lean" unless set); a clear error for anything else."""
    transport = str(config.get("transport") or "lean").strip().lower()
    if transport not in TRANSPORTS:
        raise ConfigurationError(
            f"{namespace}.transport is {config.get('transport')!r}: it is one of {', '.join(TRANSPORTS)} "
            "(lean: SQS and SNS message calls skip botocore's per-call machinery; "
            "botocore: every call through botocore)"
        )
    return transport


def make_client(
    service: str, config: Mapping[str, Any], namespace: str, read_timeout_seconds: float,
    max_pool_connections: int = 10,
) -> Any:
    """A boto3 client for `service` from one binding's configuration; SQS and SNS on the transport it names."""
    transport = transport_of(config, namespace) if service in LEAN_OPERATIONS else "botocore"
    session, client = _botocore_client(service, config, namespace, read_timeout_seconds, max_pool_connections)
    if transport == "lean":
        # The CA bundle botocore verifies with: AWS_CA_BUNDLE or the profile's ca_bundle, else its default
        return lean_client(client, verify=session._session.get_config_variable("ca_bundle") or True)
    return client


def _botocore_client(
    service: str, config: Mapping[str, Any], namespace: str, read_timeout_seconds: float, max_pool_connections: int,
) -> tuple[Any, Any]:
    # An unset `endpoint_url` leaves boto3 to its own chain, so `AWS_ENDPOINT_URL_SQS` and friends work
    try:
        session: Any = new_session(profile_name=config.get("profile_name") or None)
        return session, session.client(
            service, endpoint_url=config.get("endpoint_url") or None, region_name=config.get("region_name") or None,
            config=Config(
                # `connect_timeout` is the old package's name of the key
                connect_timeout=config.get("connect_timeout") or config.get("connect_timeout_seconds", 5),
                read_timeout=read_timeout_seconds,
                retries={"max_attempts": config.get("max_attempts", 3), "mode": "standard"},
                max_pool_connections=max_pool_connections,
            ),
        )
    except NoRegionError as error:
        raise ConfigurationError(
            f"no AWS region for the {service.upper()} client: set {namespace}.region_name "
            "(environment variable <SERVICE>__" + namespace.upper() + "__REGION_NAME) or AWS_DEFAULT_REGION"
        ) from error
    except ProfileNotFound as error:
        message = f"{namespace}.profile_name names an AWS profile that does not exist: {error}"
        raise ConfigurationError(message) from error


# boto3 reads these before its configuration files: the general one, then one per service
ENDPOINT_VARIABLES = {name: ("AWS_ENDPOINT_URL", f"AWS_ENDPOINT_URL_{name.upper()}") for name in ("sns", "sqs")}


def wants_stub(graph: Any, service: str, config: Mapping[str, Any]) -> bool:
    """True in a testing graph where nothing says which endpoint `service` is to use."""
    if not getattr(graph.metadata, "testing", False) or config.get("endpoint_url"):
        return False
    return not any(os.environ.get(variable) for variable in ENDPOINT_VARIABLES[service])


def configure_sns_client(graph: Any) -> SNSClient:
    """The SNS client, configured by the `sns_producer` keys; a stub in a testing graph with no endpoint."""
    config = graph.config.sns_producer
    if wants_stub(graph, "sns", config):
        client: SNSClient = build_double(SNS_CLIENT, graph)
    else:
        client = make_client("sns", config, "sns_producer", config.get("read_timeout") or config.read_timeout_seconds)
    return client


def configure_sqs_client(graph: Any) -> SQSClient:
    """The SQS client, configured by the `sqs_consumer` keys; a stub in a testing graph with no endpoint."""
    config = graph.config.sqs_consumer
    if wants_stub(graph, "sqs", config):
        stub: SQSClient = build_double(SQS_CLIENT, graph)
        return stub
    # A long poll holds the connection for wait_seconds; the read timeout must outlast it
    read_timeout = max(float(config.read_timeout_seconds), float(config.wait_seconds) + 10)
    # Handlers, the heartbeat and settling share the client: one connection each
    pool = max(10, int(runner_setting(graph.config, "concurrency") or 1) + 4)
    client: SQSClient = make_client("sqs", config, "sqs_consumer", read_timeout, pool)
    return client


# Where an `s3_client` key is unset, the producer's, then the consumer's, value: one endpoint serves all three
S3_INHERITED = ("endpoint_url", "region_name", "profile_name")


def build_s3_client(graph: Any) -> Any:
    """The S3 client large payloads use, from the `s3_client` keys (endpoint, region and profile inherited)."""
    own = dict(graph.config.get("s3_client") or {})
    for key in S3_INHERITED:
        if not own.get(key):
            own[key] = (graph.config.get("sns_producer") or {}).get(key) or (
                graph.config.get("sqs_consumer") or {}).get(key)
    return make_client("s3", own, "s3_client", float(own.get("read_timeout_seconds") or 30.0))


@defaults(
    endpoint_url=typed(str, default_value=None), profile_name=typed(str, default_value=None),
    region_name=typed(str, default_value=None), connect_timeout_seconds=typed(float, default_value=5.0),
    # A 256 KiB to several MiB object: S3 answers well inside this
    read_timeout_seconds=typed(float, default_value=30.0),
    # boto3's standard retry mode, counting the first try
    max_attempts=typed(int, default_value=3),
)
def configure_s3_client(graph: Any) -> Any:
    """The S3 client of large payloads (`sns_producer.large_payload_bucket`, pointers the consumer reads)."""
    return build_s3_client(graph)


def old_testing_mode(graph: Any) -> bool:
    """Whether the old testing mode (testing graph, `sns_producer.mock_sns` false, no SNS endpoint) applies."""
    config = graph.config.sns_producer
    return not flag(config.get("mock_sns"), default=True) and wants_stub(graph, "sns", config)
