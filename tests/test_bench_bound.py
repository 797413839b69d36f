"""bench.bound: the rate-distortion bound on bench.quality's frames.

Checked against what is known in closed form (a gaussian source is the hardest to describe at a given
variance, a constant one costs nothing) and against the noise bench/frames.py really adds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench import bound
from bench.frames import NOISE_SIGMA, make_frames, make_scene


def one_class(x: np.ndarray, p: np.ndarray) -> bound.Classes:
    return bound.Classes(x[None, :].astype(float), p[None, :] / p.sum(), np.array([1.0]))


def variance(x: np.ndarray, p: np.ndarray) -> float:
    return float(p @ x**2 - (p @ x) ** 2)


def test_the_noise_model_is_the_noise_the_benchmark_frames_carry() -> None:
    k, pk = bound.noise_pmf(NOISE_SIGMA)
    fed = np.stack(make_frames(320, 240, 4, seed=3, noise_fields=4)).astype(int)
    scene = np.stack(make_scene(320, 240, 4)).astype(int)
    reach = int(k[-1])
    unclipped = (scene >= reach) & (scene <= 255 - reach)
    noise = (fed - scene)[unclipped]
    assert noise.size > 500_000
    seen = np.bincount(noise - k[0], minlength=len(k)) / noise.size
    assert 0.5 * np.abs(seen - pk).sum() < 0.005  # total variation; sampling alone gives ~0.002
    assert np.var(noise) == pytest.approx(float(pk @ k**2), rel=0.01)
    # Truncation toward zero, not rounding: 0 takes all of (-1, 1), twice the width any other value gets.
    assert pk[reach] == pytest.approx(2 * pk[reach + 1], rel=0.05)


def test_classes_merge_mirrored_scene_values_and_the_unclipped_middle() -> None:
    histogram = np.zeros(256)
    histogram[[0, 255, 128, 129]] = [1, 3, 2, 2]
    cls = bound.classes(histogram, NOISE_SIGMA)
    assert cls.weight.tolist() == [0.5, 0.5]
    edge, middle = cls.x
    assert edge.min() == 0 and edge.max() > 0  # scene value 0: nothing below it
    assert middle.min() == -middle.max()  # no clipping
    assert variance(edge, cls.p[0]) < variance(middle, cls.p[1]) / 2


def test_a_gaussian_like_source_stays_under_the_gaussian_curve_and_close_to_it() -> None:
    k, pk = bound.noise_pmf(NOISE_SIGMA)
    cls = one_class(k, pk)
    slopes = bound.curve(cls, [0.016, 0.018, 0.020])
    for s in slopes:
        low = s.intercept - s.beta * s.mse
        assert 0 < low <= s.rate < low + 2e-4  # the line under the point it was solved for, and close
        gaussian = 0.5 * math.log(variance(k, pk) / s.mse)  # the most any source of this variance can need
        assert 0.9 * gaussian < s.rate <= gaussian
        assert bound.least_rate(slopes, s.mse) <= s.rate
        assert bound.least_mse(slopes, s.rate) <= s.mse


def test_a_constant_costs_nothing() -> None:
    cls = one_class(np.array([0.0]), np.array([1.0]))
    slopes = bound.curve(cls, [0.02, 0.1])
    assert bound.least_rate(slopes, 1e-3) == 0.0
    assert all(abs(s.rate) < 1e-9 for s in slopes)  # nothing to say, whatever the error


def test_units_and_ranges() -> None:
    assert bound.rate_of(bound.kb_per_frame(0.05)) == pytest.approx(0.05)
    assert bound.mse_of(bound.psnr(27.5)) == pytest.approx(27.5)
    # 1280x720x3 samples at one bit each: 337.5 KB of 1024 bytes
    assert bound.kb_per_frame(math.log(2.0)) == pytest.approx(337.5)
    k, pk = bound.noise_pmf(NOISE_SIGMA)
    slopes = bound.curve(one_class(k, pk), [0.018, 0.02])
    assert bound.achievable_mse(slopes, 0.0) is None  # below the computed range: not claimed
    assert bound.achievable_rate(slopes, 100.0) is None
    inside = bound.achievable_rate(slopes, (slopes[0].mse + slopes[1].mse) / 2)
    assert inside is not None and slopes[0].rate < inside < slopes[1].rate
