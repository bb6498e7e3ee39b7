"""The boto3 SNS and SQS clients, each its own graph binding, configured from the graph."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError, ProfileNotFound

from microcosm_pubsub.errors import ConfigurationError


def make_client(
    service: str,
    config: Mapping[str, Any],
    namespace: str,
    read_timeout_seconds: float,
    max_pool_connections: int = 10,
) -> Any:
    """A boto3 client for `service` from one binding's configuration.

    An unset `endpoint_url` leaves boto3 to its own chain, so `AWS_ENDPOINT_URL_SQS` and friends work.

    :raises ConfigurationError: when no region or an unknown profile is configured
    """
    try:
        session: Any = boto3.session.Session(profile_name=config.get("profile_name") or None)
        return session.client(
            service,
            endpoint_url=config.get("endpoint_url") or None,
            region_name=config.get("region_name") or None,
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
        raise ConfigurationError(
            f"{namespace}.profile_name names an AWS profile that does not exist: {error}"
        ) from error


def configure_sns_client(graph: Any) -> Any:
    """The SNS client, configured by the `sns_producer` keys."""
    config = graph.config.sns_producer
    return make_client("sns", config, "sns_producer", config.get("read_timeout") or config.read_timeout_seconds)


def configure_sqs_client(graph: Any) -> Any:
    """The SQS client, configured by the `sqs_consumer` keys."""
    config = graph.config.sqs_consumer
    # A long poll holds the connection for wait_seconds; the read timeout must outlast it
    read_timeout = max(float(config.read_timeout_seconds), float(config.wait_seconds) + 10)
    # Handlers, the heartbeat and settling share the client: one connection each
    pool = max(10, int(config.concurrency) + 4)
    return make_client("sqs", config, "sqs_consumer", read_timeout, pool)
