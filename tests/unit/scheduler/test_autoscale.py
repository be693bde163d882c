"""The autoscaler's rule on an injected clock: up past the threshold, down after the stabilisation window."""

from __future__ import annotations

from hubserve.scheduler.autoscale import Autoscaler


def test_scales_up_one_at_a_time_while_pending_per_replica_is_above_the_threshold() -> None:
    rule = Autoscaler(min_replicas=1, max_replicas=3, threshold=2, up_after_s=10)
    assert rule.decide(1, 3, now=0) == 1  # above, but not for long enough yet
    assert rule.decide(1, 3, now=9) == 1
    assert rule.decide(1, 3, now=10) == 2
    assert rule.decide(2, 5, now=11) == 2  # the window starts again for the next step
    assert rule.decide(2, 5, now=21) == 3
    assert rule.decide(3, 50, now=40) == 3  # never past max


def test_a_dip_restarts_the_window() -> None:
    rule = Autoscaler(min_replicas=1, max_replicas=3, threshold=2, up_after_s=10)
    rule.decide(1, 3, now=0)
    assert rule.decide(1, 1, now=5) == 1
    assert rule.decide(1, 3, now=12) == 1  # above again only since 12
    assert rule.decide(1, 3, now=22) == 2


def test_scales_down_after_the_stabilisation_window_but_not_below_min_or_to_zero() -> None:
    rule = Autoscaler(min_replicas=1, max_replicas=3, threshold=2, down_after_s=300)
    assert rule.decide(3, 4, now=0) == 3  # two replicas would carry 4 at the threshold: start the window
    assert rule.decide(3, 4, now=299) == 3
    assert rule.decide(3, 4, now=300) == 2
    assert rule.decide(2, 3, now=301) == 2  # one replica could not carry 3: no window
    assert rule.decide(2, 0, now=400) == 2
    assert rule.decide(2, 0, now=700) == 1
    assert rule.decide(1, 0, now=5000) == 1  # the floor is one replica; zero is the idle timeout's
    assert Autoscaler(min_replicas=2, max_replicas=3, threshold=2, down_after_s=0).decide(2, 0, now=0) == 2


def test_scaled_to_zero_stays_at_zero() -> None:
    assert Autoscaler(min_replicas=0, max_replicas=2, threshold=1).decide(0, 10, now=0) == 0
