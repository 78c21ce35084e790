from __future__ import annotations

from waagent.daemon.backoff import Backoff


def test_delays_double_from_one_second_up_to_a_minute() -> None:
    backoff = Backoff()
    assert [backoff.after_exit(0.1) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_run_that_lasted_starts_the_delays_over() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.after_exit(0.1)
    assert backoff.after_exit(61) == 1
    assert backoff.after_exit(0.1) == 2
