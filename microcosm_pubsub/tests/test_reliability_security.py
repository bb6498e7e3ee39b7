"""Reliability of the security defaults: secrets, signing, opaque data, bindings."""
from __future__ import annotations

import ast
import json
import unittest
import uuid
from pathlib import Path
from typing import Any, ClassVar

from hamcrest import (
    assert_that,
    contains_string,
    empty,
    equal_to,
    greater_than,
    has_entries,
    has_length,
    is_,
    is_in,
    not_,
    only_contains,
)

from microcosm_pubsub.tests import fixtures
from microcosm_pubsub.tests.fixtures import wait_for
from microcosm_pubsub.tests.reliability.cases import fuzz_graph, marker_of
from microcosm_pubsub.tests.reliability.daemon import WorkSchema
from microcosm_pubsub.tests.reliability.harness import (
    Lab,
    attribute_value,
    is_loopback,
    listening_addresses,
    receive_all,
    record_figures,
)
from microcosm_pubsub.tests.reliability.proxy import Proxy


SENTINEL = uuid.uuid4().hex
AWS_SENTINEL = f"aws-secret-sentinel-{SENTINEL}"
OLD_KEY_SENTINEL = f"signing-old-sentinel-{SENTINEL}"
NEW_KEY_SENTINEL = f"signing-new-sentinel-{SENTINEL}"
REQUEST_ID = f"request-{SENTINEL}"
PRIVATE_NOTE = f"private-note-{SENTINEL}"


class SecurityTest(unittest.TestCase):
    """One daemon at --debug with sentinel secrets, signed traffic (old and new keys) and bad signatures."""

    parents: ClassVar[list[str]]
    log: ClassVar[str]
    status: ClassVar[int]
    children: ClassVar[list[dict[str, Any]]]
    dead: ClassVar[dict[str, dict[str, Any]]]
    started: ClassVar[list[dict[str, Any]]]
    handled: ClassVar[set[str]]
    listening: ClassVar[list[str]]
    queue_left: ClassVar[int]

    @classmethod
    def setUpClass(cls) -> None:
        lab = Lab()
        cls.addClassCleanup(lab.close)
        stack = lab.new_stack("security")
        child_stack = lab.new_stack("security-children")
        sns = lab.endpoint.client("sns")
        cls.addClassCleanup(sns.close)

        # Given a producer signing with the old key (mid-rotation) and one message of each bad kind
        def signer(keys: dict[str, str], key_id: str | None) -> Any:
            signing = {"keys": keys, "signing_key_id": key_id}
            return lab.graph(stack, pubsub_middleware={"components": "pubsub_signing"}, pubsub_signing=signing)

        old = signer({"k-old": OLD_KEY_SENTINEL}, "k-old")
        cls.parents = [f"parent-{index}" for index in range(3)]
        opaque = {"X-Request-Id": REQUEST_ID, "X-Private-Note": PRIVATE_NOTE}
        with old.opaque.initialize(lambda: opaque):
            for name in cls.parents:
                old.sns_producer.produce(WorkSchema.MEDIA_TYPE, name=name, child=True)
        lab.graph(stack).sns_producer.produce(WorkSchema.MEDIA_TYPE, name="unsigned")
        signer({"k-gone": "retired-secret"}, "k-gone").sns_producer.produce(WorkSchema.MEDIA_TYPE, name="unknown-key")
        tampered = old.sns_producer.prepare(WorkSchema.MEDIA_TYPE, name="tampered-original")
        sns.publish(
            TopicArn=stack.topic_arn, Message=tampered.body.replace("tampered-original", "tampered"),
            MessageAttributes=tampered.attributes,
        )

        # When a daemon holding the old and new keys, signing with the new one, runs at --debug
        daemon = lab.start_daemon(
            stack, concurrency=2, args=("--debug",),
            environ={"AWS_SECRET_ACCESS_KEY": AWS_SENTINEL},
            pubsub_middleware={"components": "reliability_recorder,pubsub_signing,pubsub_health"},
            pubsub_signing={
                "keys": json.dumps({"k-old": OLD_KEY_SENTINEL, "k-new": NEW_KEY_SENTINEL}), "signing_key_id": "k-new",
            },
            sns_topic_arns={"default": child_stack.topic_arn},
            sqs_message_dispatcher={"dead_letter_queue_url": stack.dead_letter_queue_url},
            # Every key but the request id stays behind (the default lets custom keys travel, as before)
            sqs_message_context={"propagated_keys": "x-request-id"},
            # Its health endpoint on a free port, so that the bind check has a server to look at
            pubsub_health={"port": 0},
        )
        wait_for(
            lambda: daemon.exited
            or (lab.records.handled() >= set(cls.parents) and lab.depth(stack.dead_letter_queue_url) >= 3),
            timeout=60,
        )
        cls.listening = listening_addresses(pid=daemon.pid)
        cls.status = daemon.stop()
        cls.queue_left = lab.depth(stack.queue_url)
        cls.log = daemon.log()
        cls.started = lab.records.events("started")
        cls.handled = lab.records.handled()
        assert stack.dead_letter_queue_url is not None
        dead = receive_all(lab.sqs, stack.dead_letter_queue_url)
        cls.dead = {marker_of(message["Body"]): message for message in dead}
        cls.children = receive_all(lab.sqs, child_stack.queue_url)
        record_figures(
            "signing", "signing: rotation, unsigned, tampered and unknown-key messages",
            "3 messages signed with the old key (consumer holds old and new), 1 unsigned, 1 tampered, "
            "1 signed with a retired key; daemon at --debug with sentinel secrets",
            messages_in=len(cls.parents) + 3, handled=len(cls.handled & set(cls.parents)),
            lost=len(cls.parents) + 3 - len(cls.handled & set(cls.parents)) - len(cls.dead),
            duplicated=lab.records.duplicates(), dead_lettered=len(cls.dead), exit_status=cls.status,
            queue_left=cls.queue_left,
        )

    def test_every_message_is_settled(self):
        """Handled and refused messages alike leave the queue."""
        assert_that(self.queue_left, is_(equal_to(0)))

    def test_daemon_ran_at_debug_and_stopped_cleanly(self):
        """The daemon logged at DEBUG (so a leak would have shown) and exited 0."""
        assert_that(self.log, contains_string(" DEBUG "))
        assert_that(self.status, is_(equal_to(0)))

    def test_aws_secret_never_logged(self):
        """The AWS secret access key from the environment appears nowhere in the daemon's output."""
        assert_that(self.log, not_(contains_string(AWS_SENTINEL)))

    def test_signing_secrets_never_logged(self):
        """No configured signing secret appears in the daemon's output."""
        assert_that(self.log, not_(contains_string(OLD_KEY_SENTINEL)))
        assert_that(self.log, not_(contains_string(NEW_KEY_SENTINEL)))

    def test_messages_signed_with_the_old_key_are_handled(self):
        """Mid-rotation, messages signed with the old key verify against a consumer holding both keys."""
        assert_that(set(self.parents) - self.handled, is_(empty()))

    def test_bad_signatures_are_dead_lettered_with_their_reason(self):
        """Unsigned, tampered and unknown-key messages are INVALID, dead-lettered with a clear reason."""
        reasons = {marker: attribute_value(message, "pubsub_reason") for marker, message in self.dead.items()}
        assert_that(reasons, has_entries({
            "unsigned": "unsigned message",
            "tampered": contains_string("signature does not match: tampered or wrong key"),
            "unknown-key": "unknown key id 'k-gone'",
        }))
        assert_that({attribute_value(message, "pubsub_outcome") for message in self.dead.values()},
                    is_(equal_to({"invalid"})))

    def test_children_are_signed_with_the_signing_key(self):
        """Messages a handler produces carry the new key id and verify with the new key."""
        verifier = fuzz_graph(
            pubsub_middleware={"components": "pubsub_signing"}, pubsub_signing={"keys": {"k-new": NEW_KEY_SENTINEL}},
        )
        assert_that(self.children, has_length(len(self.parents)))
        for child in self.children:
            message = verifier.sqs_consumer.wrap(child)
            assert_that((message.problem, message.content["name"] if message.content else None),
                        is_in([(None, f"child-of-{name}") for name in self.parents]))

    def test_children_carry_only_allowed_opaque_data(self):
        """A child inherits the allow-listed request id, not the parent's other opaque data."""
        for child in self.children:
            opaque = json.loads(json.loads(child["Body"])["Message"])["opaqueData"]
            assert_that(opaque, has_entries({"x-request-id": REQUEST_ID}))
            assert_that(json.dumps(child), not_(contains_string(PRIVATE_NOTE)))

    def test_children_carry_no_delivery_identifiers_or_handler_names(self):
        """Receipt handles, the parent's message ids and handler names never leak into a child message."""
        opaque_fields = ("receipt_handle", "message_id", "sqs_message_id")
        secrets = {record[field] for record in self.started for field in opaque_fields if record.get(field)}
        secrets |= {"ReliabilityHandler", "reliability_handler", "reliability_recorder"}
        assert_that(secrets, has_length(greater_than(len(opaque_fields))))
        for child in self.children:
            text = child["Body"] + json.dumps(child.get("MessageAttributes", {}))
            assert_that([secret for secret in secrets if secret in text], is_(empty()))

    def test_daemon_listens_on_loopback_only(self):
        """Whatever the daemon listens on (its health endpoint here) is bound to 127.0.0.1."""
        assert_that([is_loopback(address) for address in self.listening], only_contains(True))


class SecureDefaultsTest(unittest.TestCase):

    def test_malformed_signing_keys_stop_the_daemon_without_echoing_them(self):
        """A daemon given malformed signing keys exits 2 and its output never shows them."""
        lab = Lab()
        self.addCleanup(lab.close)
        stack = lab.new_stack("malformed-keys", dead_letter=False)
        secret = f"malformed-sentinel-{uuid.uuid4().hex}"
        daemon = lab.start_daemon(
            stack, pubsub_middleware={"components": "pubsub_signing"},
            pubsub_signing={"keys": '{"k1": "' + secret + '"'},
        )
        status = daemon.wait()
        assert_that(status, is_(equal_to(2)), daemon.tail())
        assert_that(daemon.log(), contains_string("pubsub_signing.keys is not valid JSON"))
        assert_that(daemon.log(), not_(contains_string(secret)))

    def test_shared_local_endpoint_listens_on_loopback_only(self):
        """The tests' local endpoint listens on 127.0.0.1 only."""
        port = int(fixtures.endpoint().url.rsplit(":", 1)[1])
        addresses = listening_addresses(port=port)
        assert_that(addresses, is_(not_(empty())))
        assert_that([is_loopback(address) for address in addresses], only_contains(True))

    def test_proxy_listens_on_loopback_only(self):
        """The fault-injecting proxy listens on 127.0.0.1 only."""
        with Proxy(target_port=9) as proxy:
            addresses = listening_addresses(port=proxy.port)
        assert_that(addresses, is_(not_(empty())))
        assert_that([is_loopback(address) for address in addresses], only_contains(True))

    def test_nothing_from_the_wire_is_unpickled_or_evaluated(self):
        """No library module imports pickle, marshal, shelve or yaml, nor calls eval or exec."""
        package = Path(__file__).resolve().parent.parent
        forbidden_modules = {"pickle", "cPickle", "marshal", "shelve", "dill", "yaml", "jsonpickle"}
        found: list[str] = []
        for path in sorted(package.rglob("*.py")):
            if "tests" in path.relative_to(package).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    names = {(node.module or "").split(".")[0]}
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    names = {node.func.id} & {"eval", "exec"}
                else:
                    continue
                found.extend(f"{path.name}: {name}" for name in names & (forbidden_modules | {"eval", "exec"}))
        assert_that(found, is_(empty()))
