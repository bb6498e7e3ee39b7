"""PyHamcrest matchers over published messages (see docs/testing.md): recorded, captured or really delivered."""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any, TypeAlias


try:
    from hamcrest import has_entries
    from hamcrest.core.base_matcher import BaseMatcher
    from hamcrest.core.description import Description
    from hamcrest.core.helpers.wrap_matcher import wrap_matcher
    from hamcrest.core.matcher import Matcher
except ImportError as error:  # pragma: no cover (exercised with PyHamcrest hidden)
    raise ImportError(
        "microcosm_pubsub's matchers need PyHamcrest, which is not installed: "
        "add the testing extra to your test requirements (pip install 'microcosm_pubsub[testing]')",
        name=error.name,
    ) from error
from microcosm_pubsub.testing.views import PublishedMessage, UnreadableSource, listing, view_of, views_of


__all__ = ["a_message", "not_published", "published", "published_in_order", "published_inanyorder"]


class MessageMatcher(BaseMatcher[Any]):  # type: ignore[misc]  # PyHamcrest is Any to mypy (pyproject.toml)
    """One message of a media type whose content matches."""

    def __init__(self, media_type: Any, content: Any, fields: Mapping[str, Any]) -> None:
        self.media_type: Matcher[Any] | None = None if media_type is None else wrap_matcher(media_type)
        if content is not None and not isinstance(content, Mapping | Matcher):
            raise TypeError(f"content must be a mapping or a matcher, not {content!r}")
        entries = {**(content if isinstance(content, Mapping) else {}), **fields}
        self.content: list[Matcher[Any]] = [has_entries(entries)] if entries else []
        if isinstance(content, Matcher):
            self.content.append(content)

    @property
    def anything(self) -> bool:
        return self.media_type is None and not self.content

    def matches_media_type(self, view: PublishedMessage) -> bool:
        return self.media_type is None or self.media_type.matches(view.media_type)

    def matches_view(self, view: PublishedMessage) -> bool:
        return self.matches_media_type(view) and all(matcher.matches(view.content) for matcher in self.content)

    def _matches(self, item: Any) -> bool:
        view = view_of(item)
        return view is not None and self.matches_view(view)

    def describe_message(self, description: Description) -> None:
        description.append_text("message")
        if self.media_type is not None:
            description.append_text(" of media type ").append_description_of(self.media_type)
        for index, matcher in enumerate(self.content):
            description.append_text(" with content " if index == 0 else " and ").append_description_of(matcher)

    def describe_to(self, description: Description) -> None:
        self.describe_message(description.append_text("a "))

    def describe_mismatch(self, item: Any, description: Description) -> None:
        view = view_of(item)
        if view is None:
            description.append_text("was ").append_description_of(item).append_text(", not a message")
        else:
            self.describe_view_mismatch(view, description)

    def describe_view_mismatch(self, view: PublishedMessage, description: Description) -> None:
        mismatched = next((matcher for matcher in self.content if not matcher.matches(view.content)), None)
        if not self.matches_media_type(view):
            description.append_text("was of media type ").append_description_of(view.media_type)
        elif mismatched is not None:
            mismatched.describe_mismatch(view.content, description)


class SourceMatcher(BaseMatcher[Any]):  # type: ignore[misc]  # PyHamcrest is Any to mypy (pyproject.toml)
    """A matcher over what a source published; a source that cannot be read never matches, and says why."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def _matches(self, source: Any) -> bool:
        with suppress(UnreadableSource):
            return self.matches_views(views_of(source))
        return False

    def describe_mismatch(self, source: Any, description: Description) -> None:
        try:
            views = views_of(source)
        except UnreadableSource as error:
            description.append_text(str(error))
            return
        self.describe_views_mismatch(views, description)

    def matches_views(self, views: list[PublishedMessage]) -> bool:
        raise NotImplementedError

    def describe_views_mismatch(self, views: list[PublishedMessage], description: Description) -> None:
        raise NotImplementedError


class PublishedMatcher(SourceMatcher):
    """Some published message matches."""

    def matches_views(self, views: list[PublishedMessage]) -> bool:
        return any(self.expected.matches_view(view) for view in views)

    def describe_to(self, description: Description) -> None:
        self.expected.describe_message(description.append_text("a published "))

    def describe_views_mismatch(self, views: list[PublishedMessage], description: Description) -> None:
        same_type = [view for view in views if self.expected.matches_media_type(view)]
        if not views:
            description.append_text("nothing was published")
        elif not same_type:
            description.append_text("published no message of media type ").append_description_of(
                self.expected.media_type).append_text(f"; published instead:{listing(views)}")
        else:
            description.append_text(f"published {len(same_type)} message(s) of this media type, none matching:")
        for view in same_type:
            description.append_text(f"\n    - {view.shown_content()}: ")
            self.expected.describe_view_mismatch(view, description)


class NotPublishedMatcher(SourceMatcher):
    """No published message matches (no message at all, without an expectation)."""

    def matches_views(self, views: list[PublishedMessage]) -> bool:
        return not any(self.expected.matches_view(view) for view in views)

    def describe_to(self, description: Description) -> None:
        if self.expected.anything:
            description.append_text("nothing published")
        else:
            self.expected.describe_message(description.append_text("no published "))

    def describe_views_mismatch(self, views: list[PublishedMessage], description: Description) -> None:
        matching = [view for view in views if self.expected.matches_view(view)]
        such = "" if self.expected.anything else " such"
        description.append_text(f"published {len(matching)}{such} message(s):{listing(matching)}")


class InOrderMatcher(SourceMatcher):
    """The published messages are exactly the expected ones, in this order."""

    def matches_views(self, views: list[PublishedMessage]) -> bool:
        return len(views) == len(self.expected) and all(
            matcher.matches(view) for matcher, view in zip(self.expected, views, strict=True)
        )

    def describe_to(self, description: Description) -> None:
        description.append_list("exactly these published messages, in this order: [", ", ", "]", self.expected)

    def describe_views_mismatch(self, views: list[PublishedMessage], description: Description) -> None:
        for index, (matcher, view) in enumerate(zip(self.expected, views, strict=False)):
            if not matcher.matches(view):
                description.append_text(f"message {index + 1} ({view}) ")
                matcher.describe_mismatch(view, description)
                description.append_text("\n  ")
                break
        if len(views) != len(self.expected):
            description.append_text(f"{len(self.expected)} expected; ")
        description.append_text(f"published {len(views)} message(s):{listing(views)}")


class InAnyOrderMatcher(SourceMatcher):
    """The published messages are exactly the expected ones, in any order."""

    def matches_views(self, views: list[PublishedMessage]) -> bool:
        return len(views) == len(self.expected) == len(pairing(self.expected, views))

    def describe_to(self, description: Description) -> None:
        description.append_list("exactly these published messages, in any order: [", ", ", "]", self.expected)

    def describe_views_mismatch(self, views: list[PublishedMessage], description: Description) -> None:
        pairs = pairing(self.expected, views)
        missing = [matcher for index, matcher in enumerate(self.expected) if index not in pairs]
        extra = [view for index, view in enumerate(views) if index not in pairs.values()]
        if missing:
            description.append_list("nothing published matched [", ", ", "]", missing).append_text("; ")
        if extra:
            description.append_text(f"{len(extra)} unexpected:{listing(extra)}\n  ")
        description.append_text(f"published {len(views)} message(s):{listing(views)}")


def pairing(expected: list[Matcher[Any]], views: list[PublishedMessage]) -> dict[int, int]:
    """A largest matching of expectations to messages (expected index -> message index)."""
    # Augmenting paths, not a greedy pass: a loose expectation must not take the only message a stricter one matches
    owner: dict[int, int] = {}  # message index -> expected index

    def assign(matcher_index: int, seen: set[int]) -> bool:
        for view_index, view in enumerate(views):
            if view_index in seen or not expected[matcher_index].matches(view):
                continue
            seen.add(view_index)
            if view_index not in owner or assign(owner[view_index], seen):
                owner[view_index] = matcher_index
                return True
        return False

    for matcher_index in range(len(expected)):
        assign(matcher_index, set())
    return {matcher_index: view_index for view_index, matcher_index in owner.items()}


def a_message(media_type: Any = None, content: Any = None, /, **fields: Any) -> MessageMatcher:
    """Matches one message; also what `published_inanyorder` takes.

    :param media_type: a media type or a matcher of one; None matches any
    :param content: a mapping of expected fields, or a matcher of the whole content
    :param fields: expected fields, each a value or a matcher
    """
    return MessageMatcher(media_type, content, fields)


def published(media_type: Any, content: Any = None, /, **fields: Any) -> PublishedMatcher:
    """At least one published message has this media type and these fields."""
    return PublishedMatcher(a_message(media_type, content, **fields))


def not_published(media_type: Any = None, content: Any = None, /, **fields: Any) -> NotPublishedMatcher:
    """No published message has this media type and these fields; with no arguments, nothing was published."""
    return NotPublishedMatcher(a_message(media_type, content, **fields))


Expected: TypeAlias = "Matcher[Any] | str | tuple[Any, Mapping[str, Any]]"


def expectation(message: Expected) -> Matcher[Any]:
    """`a_message(...)` (or any matcher of one message), a media type, or a `(media_type, fields)` pair."""
    if isinstance(message, Matcher):
        return message
    if isinstance(message, tuple | str):
        return a_message(*message) if isinstance(message, tuple) else a_message(message)
    raise TypeError(f"expected a_message(...), a media type or a (media_type, fields) pair, not {message!r}")


def published_inanyorder(*messages: Expected) -> InAnyOrderMatcher:
    """Exactly these messages were published, in any order; each `a_message(...)`, a media type or a pair."""
    return InAnyOrderMatcher([expectation(message) for message in messages])


def published_in_order(*messages: Expected) -> InOrderMatcher:
    """Exactly these messages were published, in this order; each as for `published_inanyorder`."""
    return InOrderMatcher([expectation(message) for message in messages])
