"""Training stops on a plateau of the held-out loss, and not before it."""

from __future__ import annotations

from vst.early_stop import StopOnPlateau


def _stops_after(series: list[float], patience: int = 3, min_improvement: float = 0.01) -> int | None:
    stop = StopOnPlateau(patience, min_improvement)
    return next((i + 1 for i, v in enumerate(series) if stop.update(v)), None)


def test_a_loss_still_falling_is_never_stopped():
    assert _stops_after([1.0 * 0.95**i for i in range(40)]) is None  # 5% better every time


def test_a_plateau_stops_after_patience_validations():
    falling, flat = [1.0, 0.8, 0.6, 0.5], [0.499, 0.4985, 0.498]  # < 1% better each
    assert _stops_after(falling + flat + [0.1]) == len(falling) + 3


def test_noise_above_the_best_counts_as_flat_and_a_real_gain_resets_the_count():
    series = [1.0, 0.9, 0.95, 0.91, 0.8, 0.85, 0.81, 0.805]
    #                  flat  flat  gain  flat  flat  flat (0.805 is < 1% under 0.8? no: above)
    assert _stops_after(series) == 8
    assert _stops_after([1.0, 0.9, 0.95, 0.91, 0.8, 0.85]) is None  # two flat only


def test_a_resumed_run_goes_on_counting():
    a = StopOnPlateau(3, 0.01)
    for v in (1.0, 0.5, 0.499):
        a.update(v)
    b = StopOnPlateau(3, 0.01)
    b.load_state_dict(a.state_dict())
    assert not b.update(0.498) and b.update(0.4985)
