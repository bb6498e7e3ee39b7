"""AWS failures that retrying will not heal (credentials, permissions, region), each told in one line naming the fix."""
from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore import exceptions as boto
from botocore.exceptions import ClientError


CREDENTIALS_FIX = (
    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or sqs_consumer.profile_name), or run on a role"
)

# Raised by botocore before any request goes out: no amount of waiting supplies what is missing
MISSING_CREDENTIALS = (
    boto.NoCredentialsError, boto.PartialCredentialsError, boto.CredentialRetrievalError, boto.UnknownCredentialError,
    boto.NoAuthTokenError, boto.TokenRetrievalError, boto.SSOError,
)
BAD_SETUP = (boto.ProfileNotFound, boto.InvalidConfigError, boto.NoRegionError, boto.InvalidRegionError,
             boto.UnknownRegionError, boto.UnknownEndpointError)

# AWS refuses the credentials themselves (any call will fail the same way)
REJECTED_CREDENTIALS = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "IncompleteSignature", "MissingAuthenticationToken", "AuthFailure", "InvalidSecurity",
    "AWS.SimpleQueueService.InvalidSecurity",
})
EXPIRED_CREDENTIALS = frozenset({"ExpiredToken", "ExpiredTokenException"})
# The credentials are fine but lack a permission (one call may be allowed where another is not)
DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException", "KmsAccessDenied",
    "AWS.SimpleQueueService.KmsAccessDenied", "UnauthorizedOperation",
})

# An error body a server sent in XML to a JSON client (moto does): botocore leaves it as the message
XML_CODE = re.compile(r"<Code>([^<]*)</Code>")
XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")

# Hosts of AWS's own endpoints, where botocore builds the name from the region
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")


def error_code(error: ClientError) -> tuple[str, str]:
    """A client error's code and message, each on one line."""
    details = error.response.get("Error") or {}
    code, message = str(details.get("Code") or ""), str(details.get("Message") or "")
    if found := XML_CODE.search(message):
        code = found.group(1)
        text = XML_MESSAGE.search(message)
        message = text.group(1) if text else ""
    return code, " ".join(message.split())


def http_status(error: ClientError) -> int | None:
    metadata: dict[str, Any] = dict(error.response.get("ResponseMetadata") or {})
    status = metadata.get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def lasting_fault(error: BaseException, queue_url: str, *, denied_heals: bool = False) -> str | None:
    """What is wrong and how to fix it, when `error` will not pass by retrying; None when it may.

    :param denied_heals: a permission refused on this call is not fatal (an old-package policy may omit it)
    """
    if isinstance(error, MISSING_CREDENTIALS):
        return f"no AWS credentials ({type(error).__name__}): {CREDENTIALS_FIX}"
    if isinstance(error, BAD_SETUP):
        return f"AWS client configuration: {' '.join(str(error).split())}"
    # Only an answer from AWS tells more; botocore's connection errors carry a `response` of None
    if not isinstance(error, ClientError) or not isinstance(error.response, dict):
        return None
    code, message = error_code(error)
    detail = f"{code}: {message}" if message else code
    if code in REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({detail}): {CREDENTIALS_FIX}, with a valid key pair"
    if code in EXPIRED_CREDENTIALS:
        return (f"the AWS credentials have expired ({detail}): refresh them (aws sso login, a new session), "
                "or run on a role")
    if denied_heals:
        return None
    if code in DENIED or http_status(error) == 403:
        return (f"access denied to {queue_url} ({detail}): allow the daemon's identity sqs:ReceiveMessage, "
                "sqs:DeleteMessage, sqs:ChangeMessageVisibility and sqs:GetQueueAttributes on the queue "
                "(`pubsub provision --iam-policy-out DIR` writes such a policy)")
    return None


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows SQS in, across AWS's partitions."""
    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sqs", partition_name=partition))
    return frozenset(regions)


def unknown_region(client: Any, queue_url: str) -> str | None:
    """Why `client` cannot reach SQS when its region is one AWS does not have; None when it is fine."""
    # Else botocore builds a host name for the region and retries its lookup as a network fault; a local
    # endpoint takes any region, and a region newer than botocore passes when the queue's URL names it
    meta = getattr(client, "meta", None)
    region = getattr(meta, "region_name", None)
    host = urlparse(str(getattr(meta, "endpoint_url", "") or "")).hostname or ""
    if not region or not host.endswith(AWS_HOST_SUFFIXES):
        return None
    queue_host = urlparse(queue_url).hostname or ""
    if region in known_regions() or f".{region}." in f".{queue_host}":
        return None
    return (f"unknown AWS region {region!r} (SQS has no endpoint there; the client would call {host}): set "
            "AWS_DEFAULT_REGION or sqs_consumer.region_name to the queue's region, the one its URL names "
            "(https://sqs.<region>.amazonaws.com/...)")
