"""QoS profiles chosen by parameter, shared by the nodes.

Nodes expose QoS as two plain parameters (a reliability name and a queue depth) instead of
fixed profiles, because the right choice depends on the other end: a camera driver that
publishes best effort cannot be heard by a reliable subscription, and a recorder that must not
lose a message needs reliable publications.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from vda_ros.core.options import Alias, Settings, option

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


RELIABILITY_CHOICES = tuple(RELIABILITIES)


@dataclass(frozen=True)
class InputQosSettings(Settings):
    """The quality of service of a node's subscriptions."""

    input_reliability: str = option(
        "best_effort",
        "Reliability of the subscriptions (best_effort hears every publisher).",
        choices=RELIABILITY_CHOICES,
    )
    input_queue_depth: int = option(1, "Queue depth of the subscriptions.", int_range=(1, 100, 0))

    @property
    def input(self) -> QoSProfile:
        """The subscriptions' profile."""
        return qos_profile(self.input_reliability, self.input_queue_depth)


@dataclass(frozen=True)
class OutputQosSettings(Settings):
    """The quality of service of a node's publications (the only QoS of a node that subscribes to nothing)."""

    output_reliability: str = option(
        "reliable",
        "Reliability of the publications (reliable is heard by every subscriber).",
        choices=RELIABILITY_CHOICES,
        aliases=(Alias("reliability", "output_reliability", ""),),
    )
    output_queue_depth: int = option(
        2,
        "Queue depth of the publications.",
        int_range=(1, 100, 0),
        aliases=(Alias("queue_depth", "output_queue_depth", 0),),
    )

    @property
    def output(self) -> QoSProfile:
        """The publications' profile."""
        return qos_profile(self.output_reliability, self.output_queue_depth)


@dataclass(frozen=True)
class QosSettings(OutputQosSettings, InputQosSettings):
    """The quality of service of a node's subscriptions (input) and publications (output).

    The options are the two groups' (declared there once); the input ones come first.
    """
