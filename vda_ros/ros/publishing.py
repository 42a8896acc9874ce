"""Publishing from a node that must keep running whatever its readers do."""

from __future__ import annotations

from rclpy.publisher import Publisher


def try_publish(publisher: Publisher, msg: object) -> str | None:
    """Publish `msg`; None when it went out, else the problem in one line (the message is dropped).

    A reliable writer whose reader stalls fills its queue, and rclpy then raises its RCLError (a RuntimeError)
    from publish: one stalled subscriber must not end a node's callback or inference thread. The caller
    decides whether the problem is worth reporting.
    """
    try:
        publisher.publish(msg)
    except RuntimeError as error:  # rclpy's RCLError is a RuntimeError
        return f"could not publish on {publisher.topic_name}: {error}"
    return None
