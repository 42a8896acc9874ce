"""QoS profiles chosen by parameter, shared by the nodes.

Nodes expose QoS as two plain parameters (a reliability name and a queue depth) instead of
fixed profiles, because the right choice depends on the other end: a camera driver that
publishes best effort cannot be heard by a reliable subscription, and a recorder that must not
lose a message needs reliable publications.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITIES: dict[str, ReliabilityPolicy] = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
}


def qos_profile(reliability: str, depth: int) -> QoSProfile:
    """A keep-last, volatile profile with the named reliability ('best_effort' or 'reliable').

    Keep-last with a small depth is what streams want: an old image is worth less than a new
    one, so a slow reader should lose old samples rather than queue them.
    """
    try:
        policy = RELIABILITIES[reliability]
    except KeyError:
        raise ValueError(f"unknown reliability {reliability!r}; expected one of {', '.join(RELIABILITIES)}") from None
    if depth < 1:
        raise ValueError(f"queue depth must be at least 1, got {depth}")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=policy,
        durability=DurabilityPolicy.VOLATILE,
    )
