"""Smoke test of the `make bench` harness: every phase with a handful of messages; no timing is asserted."""
from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path
from typing import Any

from hamcrest import all_of, assert_that, contains_string, equal_to, greater_than, has_entries, has_length, is_

from benchmarks.common import CONTENT, Sample, alternate, isolate_environment, plain_body, summarize
from benchmarks.consume import Bench, noop_phase, sleep_phase, sns_envelope
from benchmarks.fake_sqs import fake_phase
from benchmarks.memory import backlog_phase
from benchmarks.plot import BLUE, ORANGE, Series, line_plot
from benchmarks.produce import produce_phases
from benchmarks.report import END, START, markdown, targets, write_docs
from microcosm_pubsub.local import LocalEndpoint


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

    def test_noop_phase_times_three_contenders(self) -> None:
        """The no-op phase settles every fed message through each of the three consumers."""
        samples = noop_phase(self.bench, 15, rounds=1, warmup=0)
        counts = {name: [s.messages for s in runs] for name, runs in samples.items()}
        assert_that(counts, equal_to({"boto3": [15], "ours_dispatcher": [15], "ours_runner": [15]}))

    def test_sleep_phase_times_runner_and_thread_pool(self) -> None:
        """The 20 ms phase settles every fed message through our Runner and the plain thread pool."""
        samples = sleep_phase(self.bench, 2, 12, rounds=1, warmup=0)
        counts = {name: [s.messages for s in runs] for name, runs in samples.items()}
        assert_that(counts, equal_to({"ours": [12], "boto3": [12]}))

    def test_backlog_phase_reports_daemon_memory(self) -> None:
        """The backlog daemon starts, handles its queue, exits 0 on SIGTERM and reports its peak RSS."""
        rows = backlog_phase(self.endpoint, sns_envelope(self.endpoint), [10], seconds=3.0)
        assert_that(rows, has_length(1))
        assert_that(rows[0], has_entries(backlog=10, exit_code=0, handled=10, peak_rss_mib=greater_than(10)))


class TestFakeSQSPhase(unittest.TestCase):
    """The 20 ms phase on the in-memory SQS, which needs no endpoint."""

    def test_fake_phase_settles_every_message(self) -> None:
        """Our Runner and the plain thread pool each settle every message the fake hands out."""
        body = json.dumps({
            "Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:bench",
            "Message": plain_body(CONTENT),
        })
        samples = fake_phase(body, 2, 12, rounds=1, warmup=0)
        counts = {name: [s.messages for s in runs] for name, runs in samples.items()}
        assert_that(counts, equal_to({"ours": [12], "boto3": [12]}))


class TestBenchmarkReport(unittest.TestCase):
    """Tables, docs and plot from a small record, without an endpoint."""

    def record(self) -> dict[str, Any]:
        ours, theirs = [Sample(1.0, 0.5, 100, 0.6)], [Sample(1.0, 0.4, 100, 0.6)]
        phases = {
            "produce_single": {"ours": summarize(ours, theirs), "boto3": summarize(theirs)},
            "consume_sleep_1": {"ours": summarize(ours, theirs), "boto3": summarize(theirs)},
            "consume_sleep_32": {"ours": summarize(ours, theirs), "boto3": summarize(theirs)},
        }
        memory = [
            {"backlog": 10, "fill_seconds": 0.1, "peak_rss_mib": 50.0, "handled": 10},
            {"backlog": 100, "fill_seconds": 1.0, "peak_rss_mib": 51.0, "handled": 90},
        ]
        meta = {"started": "2026-01-01T00:00:00+00:00", "duration_seconds": 1.0, "rounds": 1}
        return {"meta": meta, "phases": phases, "memory": memory, "targets": targets(phases, memory, [1, 32])}

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

    def test_targets_judge_each_row(self) -> None:
        """A CPU ratio of 1.25 fails the 1.15 produce target; 1x scaling fails 15x; 2% memory growth is flat."""
        rows = self.record()["targets"]
        assert_that([row["pass"] for row in rows], equal_to([False, False, True]))

    def test_docs_keep_their_prose_around_the_results(self) -> None:
        """Writing the docs replaces only the marked results section."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "benchmarks.md"
            path.write_text(f"# Title\n\nprose\n\n{START}\nold\n{END}\n\nafter\n", encoding="utf-8")
            write_docs(path, markdown(self.record()), "plot.png")
            text = path.read_text(encoding="utf-8")
        assert_that(text, all_of(
            contains_string("prose"), contains_string("after"), contains_string("| produce, one per call |"),
            contains_string("(plot.png)"),
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
