"""Which topics of a recorded bag hold the camera images and the operator's sentences.

Shared by bag replay (evaluation/bag_replay.py) and own recordings (data/recordings.py); the
names and types come from the one topic table (adapters/topics.py).
"""
from __future__ import annotations

import logging

from langtrack_ros.adapters import topics as topic_table

log = logging.getLogger(__name__)
IMAGE_TYPES = (topic_table.INPUTS[topic_table.IMAGE], topic_table.INPUTS[topic_table.COMPRESSED])
STRING = topic_table.INPUTS[topic_table.QUERY]
QUERY_TOPIC = topic_table.resolve(topic_table.QUERY)  # what the node and `langtrack dds` read, un-namespaced


def pick_topic(connections, types: tuple[str, ...], wanted: str | None, what: str) -> str | None:
    """The topic to read: ``wanted`` (must exist with a fitting type) or the only non-empty one of ``types``."""
    found = {c.topic: c.msgtype for c in connections if c.msgcount}
    if wanted:
        if found.get(wanted) not in types:
            raise ValueError(f"bag has no {what} topic {wanted!r} of type {types}; topics: {found}")
        return wanted
    fitting = sorted(t for t, m in found.items() if m in types)
    if len(fitting) > 1:
        raise ValueError(f"bag has several {what} topics {fitting}: choose one")
    return fitting[0] if fitting else None


def pick_query_topic(connections, wanted: str | None) -> str | None:
    """``wanted``, else ``/query`` if the bag has it. Any other String topic (/rosout text, chatter,
    status lines) is never taken as the operator's sentences: that would track garbage."""
    if wanted:
        return pick_topic(connections, (STRING,), wanted, "query")
    strings = sorted({c.topic for c in connections if c.msgtype == STRING and c.msgcount})
    if QUERY_TOPIC in strings:
        return QUERY_TOPIC
    if strings:
        log.warning("bag has String topics %s but no %s: none is used as queries (pass --query-topic)",
                    strings, QUERY_TOPIC)
    return None
