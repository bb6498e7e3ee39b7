"""Tests for batching: count chunks and count-and-size batches."""
from hamcrest import assert_that, calling, contains_exactly, equal_to, is_, raises

from microcosm_pubsub.wire.batching import chunks, sized_batches


def test_chunks_of_ten_by_default() -> None:
    """Twenty-three items come in chunks of ten, ten and three."""
    assert_that([len(chunk) for chunk in chunks(list(range(23)))], contains_exactly(10, 10, 3))


def test_chunks_refuse_a_size_below_one() -> None:
    """A chunk size of zero is refused with a clear error instead of looping forever."""
    assert_that(calling(lambda: list(chunks([1], 0))), raises(ValueError, "at least 1"))


def test_sized_batches_cut_at_the_count() -> None:
    """Small items are cut at max_count."""
    batches = list(sized_batches(range(5), lambda item: 1, max_bytes=100, max_count=2))
    assert_that(batches, is_(equal_to([[0, 1], [2, 3], [4]])))


def test_sized_batches_cut_at_the_bytes() -> None:
    """Items are cut before the total would pass max_bytes."""
    batches = list(sized_batches([40, 40, 40], lambda item: item, max_bytes=100))
    assert_that(batches, is_(equal_to([[40, 40], [40]])))


def test_sized_batches_count_the_base_bytes() -> None:
    """The room kept for a batch's own wrapping counts against max_bytes."""
    batches = list(sized_batches([40, 40], lambda item: item, max_bytes=100, base_bytes=30))
    assert_that(batches, is_(equal_to([[40], [40]])))


def test_sized_batches_send_an_oversized_item_alone() -> None:
    """An item over max_bytes goes alone, not dropped and not with others."""
    batches = list(sized_batches([10, 500, 10], lambda item: item, max_bytes=100))
    assert_that(batches, is_(equal_to([[10], [500], [10]])))
