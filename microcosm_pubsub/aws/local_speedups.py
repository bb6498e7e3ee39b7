"""Version-checked patches of moto for the local endpoint: quicker where it is slow, isolated where it races."""
from __future__ import annotations

import copy
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any


logger = logging.getLogger("microcosm_pubsub.local")

# The moto releases (major, minor, both ends included) tested with: the endpoint and this patch use moto's
# internals, which move between minor releases; setup.py pins the same range: widen both after the suite passes.
TESTED_MOTO = ((5, 0), (5, 2))
TESTED_MOTO_RANGE = f"{TESTED_MOTO[0][0]}.{TESTED_MOTO[0][1]} to {TESTED_MOTO[1][0]}.{TESTED_MOTO[1][1]}"
# What to install for a tested moto (setup.py's extras say the same; a test keeps them together)
MOTO_REQUIREMENT = f"moto[server]>={TESTED_MOTO[0][0]}.{TESTED_MOTO[0][1]},<{TESTED_MOTO[1][0]}.{TESTED_MOTO[1][1] + 1}"
PATCHED = "_microcosm_pubsub_patched"


def moto_tested(version: str) -> bool:
    """Whether a moto version string (e.g. "5.2.5", "5.3.0.dev1") is in the tested major.minor range."""
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return False
    return TESTED_MOTO[0] <= major_minor <= TESTED_MOTO[1]


def speed_up_moto() -> bool:
    """Apply every patch below to moto in this process, once; returns whether they are in place."""
    try:
        import moto
        from moto.sqs.models import SQSBackend
    except ImportError:
        return False
    if getattr(SQSBackend, PATCHED, False):
        return True
    version = str(getattr(moto, "__version__", "?"))
    if not moto_tested(version):
        # local.py has already warned about the version itself
        logger.info("moto %s is not one the endpoint's patches were tested with (%s); not applied",
                    version, TESTED_MOTO_RANGE)
        return False
    speed_up_deep_queues(SQSBackend)
    speed_up_dispatch()
    isolate_dynamodb_transactions()
    setattr(SQSBackend, PATCHED, True)
    return True


def speed_up_deep_queues(backend: Any) -> None:
    """Retention checked from the one attribute it needs.

    moto checks each message's retention by rebuilding every queue attribute, three of which scan the
    queue: O(10 n) a receive. The comparison stays the same.
    """
    from moto.core.utils import unix_time

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    setattr(backend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)  # noqa: B010


def speed_up_dispatch() -> None:
    """Two costs per request, cut without changing an answer.

    moto's dispatch lists its package directory and stats every entry for every request, under a lock
    all requests share (half the endpoint's time under load): the list is read once. And SQS reads the
    clock through datetime arithmetic (about 10 us) for each message of a queue each time it counts the
    queue's messages, three times a SendMessage: it reads time.time() instead.
    """
    backends: Any = importlib.import_module("moto.backends")
    sqs: Any = importlib.import_module("moto.sqs.models")
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    original = sqs.unix_time_millis

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(original(dt))

    sqs.unix_time_millis = unix_time_millis


# Item reads and writes of moto's DynamoDB, and its transactions, one at a time (isolate_dynamodb_transactions)
_dynamodb_lock = threading.RLock()


def isolate_dynamodb_transactions() -> None:
    """TransactWriteItems made atomic and isolated, as DynamoDB's is.

    moto deep-copies every table a transaction touches, without a lock: under concurrent requests the
    copy fails ("dictionary changed size during iteration", an HTTP 500), and a failed transaction puts
    the whole copy back over what other requests wrote meanwhile. Here item reads and writes take one
    lock, and a failed transaction restores only the items it touched.
    """
    models: Any = importlib.import_module("moto.dynamodb.models")
    backend = models.DynamoDBBackend
    for name in ("put_item", "get_item", "update_item", "delete_item", "query", "scan"):
        setattr(backend, name, _locked(getattr(backend, name)))
    original = backend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _dynamodb_lock:
            undo = _items_before(self, transact_items)
            # Its whole-table copies are not needed: the items touched were saved above
            models.copy = _TablesUncopied(models.Table)
            try:
                original(self, transact_items)
            except Exception:
                for table_name, key, attributes in reversed(undo):
                    if attributes is None:
                        self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, attributes)
                raise
            finally:
                models.copy = copy

    setattr(backend, "transact_write_items", transact_write_items)  # noqa: B010 - a method replaced on purpose


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_lock:
            return method(*args, **kwargs)

    return locked


def _items_before(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    """Each touched item's key and attributes (None: absent) before the transaction."""
    saved = []
    try:
        for entry in transact_items:
            [operation] = entry.values()
            table = backend.tables.get(operation.get("TableName"))
            if table is None:
                continue
            names = (table.hash_key_attr, table.range_key_attr)
            key = operation.get("Key") or {name: operation["Item"][name] for name in names if name is not None}
            item = backend.get_item(table.name, key)
            saved.append((table.name, key, None if item is None else item.to_json()["Attributes"]))
    except Exception:  # noqa: S110 - a malformed request: moto's own validation reports it
        pass
    return saved


class _TablesUncopied:
    """The `copy` module, but a Table's deep copy is the table itself."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self.table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)
