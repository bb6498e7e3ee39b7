"""Smoke test of the `make bench` harness: every phase with a handful of messages; no timing is asserted."""
from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path
from typing import Any

from hamcrest import (
    all_of,
    assert_that,
    close_to,
    contains_string,
    equal_to,
    greater_than,
    greater_than_or_equal_to,
    has_entries,
    has_key,
    has_length,
    is_,
    only_contains,
)

from benchmarks import idempotency
from benchmarks.common import CONTENT, CallCounter, Sample, alternate, isolate_environment, plain_body, summarize
from benchmarks.consume import Bench, noop_phase, sleep_phase, sns_envelope
from benchmarks.fake_sqs import fake_phase
from benchmarks.memory import backlog_phase
from benchmarks.multicore import completion_throughput, cpu_phase, sigterm_phase
from benchmarks.plot import BLUE, ORANGE, Series, line_plot
from benchmarks.produce import produce_phases
from benchmarks.report import END, START, markdown, targets, write_docs
from benchmarks.stages import stages_phase, table
from microcosm_pubsub.aws.local import LocalEndpoint


class TestBenchmarkPhases(unittest.TestCase):
    """Each phase on one endpoint process, one round, short receives."""

    endpoint: LocalEndpoint
    bench: Bench

    @classmethod
    def setUpClass(cls) -> None:
        isolate_environment()
        cls.endpoint = LocalEndpoint(mode="process").start()
        cls.bench = Bench(cls.endpoint, timeout_seconds=20, wait_seconds=0)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.bench.close()
        cls.endpoint.stop()

    def test_produce_phases_time_both_contenders(self) -> None:
        """Both produce phases record one sample per contender with every message counted."""
        phases = produce_phases(self.endpoint, 10, rounds=1, slices=1)
        counts = {
            key: {name: [sample.messages for sample in runs] for name, runs in value.items()}
            for key, value in phases.items()
        }
        assert_that(counts, equal_to({
            "produce_single": {"ours": [10], "boto3": [10]},
            "produce_batched": {"ours": [10], "boto3": [10]},
        }))

    def test_noop_phase_times_each_contender(self) -> None:
        """The no-op phase times our two consumers and plain boto3 twice until each settled at least the count."""
        samples = noop_phase(self.bench, 15, rounds=1, warmup=0)
        counts = {name: runs[0].messages for name, runs in samples.items()}
        assert_that(counts, has_entries(
            boto3=greater_than_or_equal_to(15), boto3_again=greater_than_or_equal_to(15),
            ours_dispatcher=greater_than_or_equal_to(15), ours_runner=greater_than_or_equal_to(15),
        ))

    def test_stages_phase_times_each_serial_loop(self) -> None:
        """The stage attribution runs plain boto3 twice, our client, consume+delete and the dispatcher loop."""
        samples = stages_phase(self.bench, 15, rounds=1, warmup=0)
        assert_that({name: runs[0].messages for name, runs in samples.items()}, has_entries(
            boto3=greater_than_or_equal_to(15), boto3_again=greater_than_or_equal_to(15),
            our_client=greater_than_or_equal_to(15), consume_delete=greater_than_or_equal_to(15),
            dispatcher_loop=greater_than_or_equal_to(15),
        ))

    def test_sleep_phase_times_runner_and_thread_pool(self) -> None:
        """The 20 ms phase times our Runner and the tuned boto3 pollers until each settled at least the count."""
        samples = sleep_phase(self.bench, 8, 12, rounds=1, warmup=0)
        counts = {name: runs[0].messages for name, runs in samples.items()}
        assert_that(counts, has_entries(ours=greater_than_or_equal_to(12), boto3=greater_than_or_equal_to(12)))

    def test_consume_phases_count_each_consumers_calls(self) -> None:
        """Each consume run records its own client's receives and deletes, at least one per ten messages."""
        samples = sleep_phase(self.bench, 1, 20, rounds=1, warmup=0)
        calls = {name: runs[0].calls for name, runs in samples.items()}
        assert_that(list(calls.values()), only_contains(has_entries(
            ReceiveMessage=greater_than(1), DeleteMessageBatch=greater_than(1),
        )))

    def test_cpu_phase_runs_the_daemon_at_each_process_count(self) -> None:
        """The CPU-bound phase handles every message at --processes 1 and 2 and sums their peak memory."""
        result = cpu_phase(self.endpoint, sns_envelope(self.endpoint), 6, rounds=1, handler_seconds=0.001)
        assert_that([(row["processes"], row["runs"][0]["messages"]) for row in result["rows"]],
                    equal_to([(1, 6), (2, 6)]))
        assert_that(result["rows"][1]["runs"][0], has_entries(process_count=3, peak_rss_mib=greater_than(10)))

    def test_sigterm_phase_reports_each_exit(self) -> None:
        """A daemon idle in a long poll exits with status 0 on SIGTERM, one and two processes alike."""
        rows = sigterm_phase(self.endpoint, rounds=1, wait_seconds=1, settle_seconds=0.2)
        assert_that([(row["processes"], row["exit_codes"]) for row in rows], equal_to([(1, [0]), (2, [0])]))

    def test_backlog_phase_reports_daemon_memory(self) -> None:
        """The backlog daemon starts, handles its queue, exits 0 on SIGTERM and reports its peak RSS."""
        rows = backlog_phase(self.endpoint, sns_envelope(self.endpoint), [10], seconds=3.0)
        assert_that(rows, has_length(1))
        assert_that(rows[0], has_entries(backlog=10, exit_code=0, handled=10, peak_rss_mib=greater_than(10)))


class TestFakeSQSPhase(unittest.TestCase):
    """The 20 ms phase on the in-memory SQS, which needs no endpoint."""

    def test_fake_phase_settles_every_message(self) -> None:
        """Our Runner and plain boto3 on the fake are each timed until they settled at least the count."""
        body = json.dumps({
            "Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:bench",
            "Message": plain_body(CONTENT),
        })
        samples = fake_phase(body, 2, 12, rounds=1, warmup=0)
        counts = {name: runs[0].messages for name, runs in samples.items()}
        assert_that(counts, has_entries(ours=greater_than_or_equal_to(12), boto3=greater_than_or_equal_to(12)))


class TestBenchmarkReport(unittest.TestCase):
    """Tables, docs and plot from a small record, without an endpoint."""

    def record(self) -> dict[str, Any]:
        ours, theirs = [Sample(1.0, 0.5, 100, 0.6)], [Sample(1.0, 0.4, 100, 0.6)]
        chatty = [Sample(1.0, 0.6, 100, 0.6, {"ReceiveMessage": 20, "DeleteMessageBatch": 10})]
        batched = [Sample(1.0, 0.4, 100, 0.6, {"ReceiveMessage": 10, "DeleteMessageBatch": 10})]
        phases = {
            "produce_single": {"ours": summarize(ours, theirs), "boto3": summarize(theirs)},
            "consume_sleep_1": {"ours": summarize(chatty, batched), "boto3": summarize(batched)},
            "consume_sleep_32": {"ours": summarize(batched, batched), "boto3": summarize(batched)},
        }
        memory = [
            {"backlog": 10, "fill_seconds": 0.1, "peak_rss_mib": 50.0, "handled": 10},
            {"backlog": 100, "fill_seconds": 1.0, "peak_rss_mib": 51.0, "handled": 90},
        ]
        spread = {"median": 1.0, "min": 1.0, "max": 1.0}
        cpu = {"handler_seconds": 0.04, "messages": 10, "rows": [
            {"processes": 1, "throughput": spread, "throughput_ratio": spread, "peak_rss_mib": spread,
             "endpoint_busy": spread},
            {"processes": 2, "throughput": spread, "throughput_ratio": {**spread, "median": 1.7},
             "peak_rss_mib": spread, "endpoint_busy": spread},
        ]}
        # Signalled 1 s into a 20 s poll: the poll is waited out, and 23.5 s is past its end and the margin
        sigterm = [{"processes": 1, "wait_seconds": 20, "signal_after_seconds": 1.0,
                    "exit_seconds": {**spread, "median": 23.5}, "exit_codes": [0]}]
        meta = {"started": "2026-01-01T00:00:00+00:00", "duration_seconds": 1.0, "rounds": 1}
        return {"meta": meta, "phases": phases, "memory": memory, "cpu": cpu, "sigterm": sigterm,
                "targets": targets(phases, memory, [1, 32], cpu, sigterm)}

    def test_alternate_adds_up_the_slices_of_a_round(self) -> None:
        """With slices, a round's sample adds up its shorter runs; the order rotates between rounds."""
        calls: list[str] = []

        def contender(name: str):
            def run(count: int) -> Sample:
                calls.append(name)
                return Sample(0.5, 0.25, count)
            return run

        samples = alternate({"a": contender("a"), "b": contender("b")}, 30, rounds=2, warmup=0, slices=3)
        assert_that(samples["a"], equal_to([Sample(1.5, 0.75, 30), Sample(1.5, 0.75, 30)]))
        assert_that("".join(calls), equal_to("ababab" + "bababa"))

    def test_stage_table_steps_over_the_row_before(self) -> None:
        """Ratios are paired per round; the A/A row gets no step, and the next step is taken over boto3's row."""
        def runs(*cpu: float) -> list[Sample]:
            return [Sample(1.0, seconds, 1000) for seconds in cpu]

        text = table({
            "boto3": runs(0.2, 0.4), "boto3_again": runs(0.22, 0.4), "our_client": runs(0.2, 0.4),
            "consume_delete": runs(0.22, 0.44),
        })
        assert_that(text, all_of(
            contains_string("| boto3_again | 310 | 1.050 (1.00-1.10) |  |"),
            contains_string("| our_client | 300 | 1.000 (1.00-1.00) | +0.000 |"),
            contains_string("| consume_delete | 330 | 1.100 (1.10-1.10) | +0.100 |"),
        ))

    def test_targets_judge_each_row(self) -> None:
        """CPU 1.25x fails 1.15 and 1.5x fails 1.3; 0.2 receives a message fail 0.12; 1.7x and flat memory pass."""
        rows = self.record()["targets"]
        assert_that([(row["phase"], row["pass"]) for row in rows], equal_to([
            ("produce, one per call", False),
            ("consume, 20 ms handler, concurrency 1", False),
            ("API calls: consume, 20 ms handler, concurrency 1", False),
            ("API calls: consume, 20 ms handler, concurrency 32", True),
            ("consume, 20 ms handler, concurrency 32 (local endpoint)", True),
            ("CPU-bound handler (40 ms), --processes 2 vs --processes 1", True),
            ("SIGTERM 1 s into a 20 s long poll, nothing in flight, --processes 1", False),
            ("daemon with a 100-message backlog (vs 10)", True),
        ]))

    def test_boto3_against_itself_is_reported_not_judged(self) -> None:
        """The A/A row shows its spread beside the targets; it is neither judged nor checked for API calls."""
        plain = [Sample(1.0, 0.4, 100, 0.6, {"ReceiveMessage": 50, "DeleteMessageBatch": 50}),
                 Sample(1.0, 0.5, 100, 0.6, {"ReceiveMessage": 50, "DeleteMessageBatch": 50})]
        again = [Sample(1.0, 0.44, 100, 0.6, {"ReceiveMessage": 50, "DeleteMessageBatch": 50}),
                 Sample(1.0, 0.45, 100, 0.6, {"ReceiveMessage": 50, "DeleteMessageBatch": 50})]
        phases = {"consume_noop": {"boto3": summarize(plain), "boto3_again": summarize(again, plain)}}
        rows = targets(phases, [], [1])
        assert_that([(row["phase"], row["pass"]) for row in rows], equal_to([
            ("consume no-op: the same boto3 serial loop again (A/A)", None),
        ]))
        assert_that(rows[0]["measured"], contains_string("CPU 1.00 (0.90-1.10)"))

    def test_in_memory_concurrency_row_is_reported_not_judged(self) -> None:
        """The in-memory SQS row at the top concurrency is shown as reported, never as a pass or a failure."""
        slow = [Sample(1.0, 0.4, 80, 0.0)]
        phases = {"consume_fake_32": {"ours": summarize(slow, [Sample(1.0, 0.4, 100, 0.0)]), "boto3": summarize(slow)}}
        rows = targets(phases, [], [1, 32])
        assert_that([(row["phase"], row["pass"]) for row in rows],
                    equal_to([("consume, 20 ms handler, concurrency 32 (in-memory SQS)", None)]))

    def test_fanferro_running_the_blocking_handler_is_reported_beside_our_sync_row(self) -> None:
        """Our sync handler against fanferro's to_thread one is shown with its ratios, judged by no bound."""
        calls = {"ReceiveMessage": 10, "DeleteMessageBatch": 10}
        plain = [Sample(1.0, 0.4, 100, 0.6, calls)]
        ours = [Sample(1.0, 0.3, 100, 0.6, calls)]
        # fanferro's: 200 msg/s at 0.6 s of CPU; ours: 100 msg/s at 0.3 s
        blocking = [Sample(0.5, 0.6, 100, 0.6, {"ReceiveMessage": 30, "DeleteMessageBatch": 30})]
        phases = {"consume_sleep_32": {
            "ours": summarize(ours, plain), "boto3": summarize(plain), "fanferro_blocking": summarize(blocking, plain),
        }}
        rows = targets(phases, [], [32])
        reported = [row for row in rows if "to_thread" in row["phase"]]
        assert_that([(row["phase"], row["measured"], row["pass"]) for row in reported], equal_to([(
            "consume, 20 ms handler, concurrency 32 vs fanferro, the blocking handler in asyncio.to_thread",
            "throughput 0.50, CPU 0.50", None,
        )]))
        # Its 0.3 receives a message are fanferro's business: only our rows meet the API-call bound
        assert_that([row["phase"] for row in rows if row["phase"].startswith("API calls")],
                    equal_to(["API calls: consume, 20 ms handler, concurrency 32"]))

    def test_call_counter_counts_a_clients_calls_by_operation(self) -> None:
        """The counter sees each call the client makes, by operation name, and forgets them on reset."""
        isolate_environment()
        with LocalEndpoint() as endpoint:
            sqs = endpoint.client("sqs")
            counter = CallCounter(sqs)
            url = sqs.create_queue(QueueName="counted")["QueueUrl"]
            counter.reset()
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
            sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
            counted = counter.snapshot()
            sqs.close()
        assert_that(counted, equal_to({"ReceiveMessage": 2}))

    def test_completion_throughput_leaves_out_start_up(self) -> None:
        """Throughput from completion times skips the first tenth of the run."""
        stamps = [100.0] + [200.0 + index for index in range(20)]
        assert_that(completion_throughput(stamps), equal_to(1.0))

    def test_docs_keep_their_prose_around_the_results(self) -> None:
        """Writing the docs replaces only the marked results section."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "benchmarks.md"
            path.write_text(f"# Title\n\nprose\n\n{START}\nold\n{END}\n\nafter\n", encoding="utf-8")
            write_docs(path, markdown(self.record()), "plot.png")
            text = path.read_text(encoding="utf-8")
        assert_that(text, all_of(
            contains_string("prose"), contains_string("after"), contains_string("| produce, one per call (vs"),
            contains_string("| consume, 20 ms handler, concurrency 1 | 200 (200-200) | 100 (100-100) | 0 (0-0) |"),
            contains_string("| --processes 2 |"), contains_string("(plot.png)"),
        ))
        assert_that("old" in text, is_(False))

    def test_plot_is_a_png(self) -> None:
        """The plotter writes a PNG file."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "plot.png"
            line_plot(path, "title", [1, 32], [
                Series("ours", BLUE, [10, 100], [9, 90], [11, 110]),
                Series("boto3", ORANGE, [10, 90], [9, 80], [11, 100]),
            ], "x", "y", reference=(150, "target"))
            head = path.read_bytes()[:8]
        assert_that(head, equal_to(b"\x89PNG\r\n\x1a\n"))


class IdempotencyPhaseTestCase(unittest.TestCase):
    def test_memory_and_sqlite(self) -> None:
        """New keys cost a claim and a completion (and a look-up per receive of ten); duplicates only the look-up."""
        results = idempotency.idempotency_phase(count=20, rounds=1, stores=("memory", "sqlite"))
        assert_that(results, has_key("none"))
        for store in ("memory", "sqlite"):
            assert_that(results[store], has_entries(
                new_ops=close_to(2.1, 0.001), duplicate_ops=close_to(0.1, 0.001),
            ))
            assert_that(results[store], has_key("added_new_us"))
        assert_that(idempotency.table(results), contains_string("| sqlite |"))
        assert_that(results["none"]["new_ops"], is_(0))
