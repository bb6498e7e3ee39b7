"""The DynamoDB idempotency store: one conditional write per claim, expiry checked in the condition.

A claim is a `PutItem` whose condition lets it through when the key has no record, its record expired, or
its lease ran out; a failed condition returns the record that stopped it (`ALL_OLD`), so a duplicate costs
one write, not a write and a read. Expiry is decided by the condition, never by DynamoDB's TTL sweep (the
`expires` attribute is also the table's TTL, which only tidies up later). The handler's own writes
(`transaction()`, a list of `TransactWriteItems` entries) are written with the completion in one transaction.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from microcosm_pubsub.aws.provisioning import create_idempotency_table
from microcosm_pubsub.effects.stores import COMPLETED, IN_PROGRESS, Claim, Record
from microcosm_pubsub.wire.errors import ConfigurationError


# The table the store expects, created where it is missing (`pubsub provision` and `pubsub local` call it)
create_table = create_idempotency_table

# DynamoDB's limits: items per BatchGetItem, and per TransactWriteItems (the completion takes one)
BATCH_GET_MAX = 100
TRANSACTION_MAX = 100
# Unprocessed keys of a BatchGetItem asked again this many times (with a short pause) before giving up on them
BATCH_GET_TRIES = 4
NAMES = {"#k": "key", "#s": "status", "#o": "owner", "#l": "lease_expires", "#e": "expires", "#r": "outcome"}
CLAIM_CONDITION = "attribute_not_exists(#k) OR #e < :now OR (#s = :in_progress AND #l < :now)"
OWNED = "#o = :owner AND #s = :in_progress"


def number(value: float) -> dict[str, str]:
    return {"N": format(Decimal(repr(value)), "f")}


def item_of(record: Record) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key": {"S": record.key}, "status": {"S": record.status}, "payload_hash": {"S": record.payload_hash},
        "owner": {"S": record.owner}, "lease_expires": number(record.lease_expires),
        # Whole seconds: DynamoDB's TTL reads this attribute, and ignores one with a fraction
        "expires": {"N": str(int(record.expires))},
    }
    if record.outcome is not None:
        item["outcome"] = {"S": record.outcome}
    return item


def record_of(item: dict[str, Any]) -> Record:
    outcome = item.get("outcome")
    return Record(
        item["key"]["S"], item["status"]["S"], item["payload_hash"]["S"], item["owner"]["S"],
        float(item["lease_expires"]["N"]), float(item["expires"]["N"]), None if outcome is None else outcome["S"],
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class DynamoDBStore:
    """Records in a DynamoDB table whose partition key is the string `key`."""

    name = "dynamodb"
    transactional = True
    blocking = True

    def __init__(self, client: Callable[[], Any], table_name: str) -> None:
        # Built at first use (a graph that never handles needs no region or credentials)
        self._client_factory = client
        self._client: Any = None
        self.table_name = table_name
        self.operations = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def check(self) -> None:
        table = self.table_name
        try:
            described = self.client.describe_table(TableName=table)["Table"]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"the DynamoDB table {table} does not exist: create it with `pubsub provision` (`pubsub local` "
                    "on the local endpoint) or set pubsub_idempotency.table_name"
                ) from None
            raise ConfigurationError(f"cannot use the DynamoDB table {table}: {error}") from None
        except BotoCoreError as error:
            raise ConfigurationError(
                f"cannot reach DynamoDB for the table {table}: {error}; check pubsub_idempotency.endpoint_url "
                "and region_name"
            ) from None
        keys = [(entry["AttributeName"], entry["KeyType"]) for entry in described.get("KeySchema", [])]
        types = {entry["AttributeName"]: entry["AttributeType"] for entry in described.get("AttributeDefinitions", [])}
        if keys != [("key", "HASH")] or types.get("key") != "S":
            raise ConfigurationError(
                f"the DynamoDB table {table} does not match: its key must be the string attribute `key` (a partition "
                f"key alone), not {keys}; let `pubsub provision` create it, or name another table"
            )

    def attempt(self, lease_seconds: float) -> DynamoDBAttempt:
        return DynamoDBAttempt(self)

    def claim(self, record: Record, now: float) -> Claim:
        self.operations += 1
        try:
            self.client.put_item(
                TableName=self.table_name, Item=item_of(record), ConditionExpression=CLAIM_CONDITION,
                ExpressionAttributeNames={name: NAMES[name] for name in ("#k", "#e", "#s", "#l")},
                ExpressionAttributeValues={":now": number(now), ":in_progress": {"S": IN_PROGRESS}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            item = error.response.get("Item")
            if item is None:
                # An endpoint that does not return the old item: read it (the one case that costs a read)
                self.operations += 1
                item = self.client.get_item(
                    TableName=self.table_name, Key={"key": {"S": record.key}}, ConsistentRead=True,
                ).get("Item")
            return Claim(False, None if not isinstance(item, dict) else record_of(item))
        return Claim(True, record)

    def complete(self, key: str, owner: str, outcome: str, expires: float, writes: Sequence[dict[str, Any]]) -> bool:
        update = {
            "TableName": self.table_name, "Key": {"key": {"S": key}},
            "UpdateExpression": "SET #s = :completed, #r = :outcome, #e = :expires",
            "ConditionExpression": OWNED,
            "ExpressionAttributeNames": {name: NAMES[name] for name in ("#s", "#r", "#e", "#o")},
            "ExpressionAttributeValues": {
                ":completed": {"S": COMPLETED}, ":outcome": {"S": outcome}, ":expires": {"N": str(int(expires))},
                ":owner": {"S": owner}, ":in_progress": {"S": IN_PROGRESS},
            },
        }
        self.operations += 1
        if not writes:
            try:
                self.client.update_item(**update)
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
            return True
        if len(writes) >= TRANSACTION_MAX:
            raise ValueError(
                f"the handler added {len(writes)} writes to its transaction; DynamoDB takes {TRANSACTION_MAX - 1} "
                "beside the idempotency record"
            )
        try:
            self.client.transact_write_items(TransactItems=[*writes, {"Update": update}])
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if (error_code(error) == "TransactionCanceledException" and len(reasons) == len(writes) + 1
                    and reasons[-1].get("Code") == "ConditionalCheckFailed"):
                return False
            raise
        return True

    def release(self, key: str, owner: str) -> None:
        self.operations += 1
        try:
            self.client.delete_item(
                TableName=self.table_name, Key={"key": {"S": key}}, ConditionExpression=OWNED,
                ExpressionAttributeNames={"#o": "owner", "#s": "status"},
                ExpressionAttributeValues={":owner": {"S": owner}, ":in_progress": {"S": IN_PROGRESS}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def extend(self, key: str, owner: str, lease_expires: float) -> bool:
        self.operations += 1
        try:
            self.client.update_item(
                TableName=self.table_name, Key={"key": {"S": key}}, UpdateExpression="SET #l = :lease",
                ConditionExpression=OWNED,
                ExpressionAttributeNames={"#l": "lease_expires", "#o": "owner", "#s": "status"},
                ExpressionAttributeValues={
                    ":lease": number(lease_expires), ":owner": {"S": owner}, ":in_progress": {"S": IN_PROGRESS},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_many(self, keys: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_MAX):
            wanted: dict[str, Any] = {self.table_name: {
                "Keys": [{"key": {"S": key}} for key in unique[start:start + BATCH_GET_MAX]], "ConsistentRead": True,
            }}
            for attempt in range(BATCH_GET_TRIES):
                self.operations += 1
                response = self.client.batch_get_item(RequestItems=wanted)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    record = record_of(item)
                    found[record.key] = record
                wanted = response.get("UnprocessedKeys") or {}
                if not wanted:
                    break
                time.sleep(0.05 * 2 ** attempt)
        # Keys left unprocessed are simply not known yet: their claim decides
        return found


class DynamoDBAttempt:
    """A handling on DynamoDB: the claim is written at once, the handler's writes go with the completion."""

    __slots__ = ("store", "writes")

    def __init__(self, store: DynamoDBStore) -> None:
        self.store = store
        self.writes: list[dict[str, Any]] = []

    def claim(self, record: Record, now: float) -> Claim:
        return self.store.claim(record, now)

    def transaction(self) -> list[dict[str, Any]]:
        return self.writes

    def complete(self, key: str, owner: str, outcome: str, expires: float, now: float) -> bool:
        return self.store.complete(key, owner, outcome, expires, self.writes)

    def release(self, key: str, owner: str) -> None:
        self.store.release(key, owner)
