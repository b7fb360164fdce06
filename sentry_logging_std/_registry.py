"""What the Sentry front doors built so far tell the JSON formatters, without sentry-sdk.

A formatter asks, per record, whether the record can become a Sentry event
(to name the event in its line) and which scrubbing policy the process's
Sentry front door uses (to scrub its line the same way). Both answers live
here, in a module that imports nothing: a program that only writes JSON
lines never loads sentry-sdk, and one with a SentryHandler pays one
comparison per record below every event level.

Leaf module: imports nothing from the package.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["FRONT_DOORS", "FrontDoors"]


class FrontDoors:
    """The event levels and scrubbing policy of the front doors built in this process."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        #: The lowest event level of any front door built so far: records
        #: below it never become events, which lets a formatter skip asking.
        self.lowest_event_level: float = float("inf")
        #: The scrubbing policy (a ScrubPolicy) of the first front door built.
        self.scrub_policy: Optional[Any] = None

    def register(self, event_level: int, scrub_policy: Any) -> None:
        self.lowest_event_level = min(self.lowest_event_level, event_level)
        if self.scrub_policy is None:
            self.scrub_policy = scrub_policy


FRONT_DOORS = FrontDoors()
