"""The most picture quality any codec could deliver on bench.quality's frames within a byte budget.

    python -m bench.bound                      # about a minute and a half
    python -m bench.bound --psnr 33.79 --kb 15.7

bench.quality scores the decoded frames against the frames fed, and those are a scene plus fresh sensor
noise (bench/frames.py: gaussian, sigma 6, truncated to integers, clipped to 0..255). A codec that matched
them more closely than the scene does has to carry part of that noise, and noise does not compress: how
many bits it takes at least is a number rate-distortion theory gives, whatever the codec and its settings.

The bound assumes the most a codec could be given: the scene itself, at both ends, for free. What is left to
send is each sample's noise, and given the scene the samples are independent (each frame has a noise field of
its own; they repeat after 60 frames, further back than the 16 an H.264 decoder keeps), so the fewest bits for
a mean squared error ``D`` over a frame is the sum over samples of the noise's rate-distortion function, which
depends on the sample's scene value ``v`` only through clipping near 0 and 255 (``R_v``). Blahut's algorithm
(Blahut 1972, IEEE Trans. Inform. Theory 18(4)) computes each ``R_v`` on a grid of reproduction values, and
the dual bound that paper stops on holds whether or not the iteration has converged: for a slope ``beta > 0``
and any reproduction distribution ``q``, with

    c(y) = sum_x p(x) exp(-beta (x - y)^2) / sum_y' q(y') exp(-beta (x - y')^2)

the line ``R >= -beta D - sum_x p(x) log sum_y' q(y') exp(-beta (x - y')^2) - log max_y c(y)`` (nats per
sample) holds at every ``D``. The maximum runs over all real ``y``; it is read on a grid a hundredth of a
level apart (``c`` is a sum of gaussians about ten levels wide: a grid ten times finer moves it by parts per
billion). Summing the classes' lines at a common slope bounds the whole frame; the best line over a range of
slopes is the bound printed. The same ``q`` is also a channel a codec could imitate, so each slope gives an
achievable point too: the two sandwich the true curve, and the gap shows how tight the bound is. The noise's
tails beyond 1e-12 of probability are left out, which moves nothing printed.

The figures are for the average squared error over a frame, or over frames of similar size (a stream at a
steady rate): the least mean squared error is convex in the rate, so spreading the bytes unevenly over frames
cannot lower the average error. (bench.quality reports the mean of per-frame PSNR, which frames of very uneven
sizes could push up: one near-lossless frame of a megabyte or more among dozens of scene-only ones.)
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from bench.frames import NOISE_SIGMA, make_scene

WIDTH, HEIGHT = 1280, 720
SAMPLES = WIDTH * HEIGHT * 3  # a BGR frame: every sample carries its own noise
PEAK = 255.0


def noise_pmf(sigma: float, tail: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """The integer noise bench/frames.py adds: ``sigma * N(0, 1)`` truncated toward zero. Returns
    (offsets, probabilities), cut where the probability left beyond is under ``tail``."""
    cdf = np.vectorize(lambda z: 0.5 * math.erfc(-z / (sigma * math.sqrt(2.0))))
    reach = 1
    while 2.0 * (1.0 - float(cdf(reach))) > tail:
        reach += 1
    k = np.arange(-reach, reach + 1)
    # Truncation toward zero: 0 from (-1, 1), k > 0 from [k, k + 1), k < 0 from (k - 1, k].
    upper = np.where(k >= 0, k + 1, k).astype(float)
    lower = np.where(k > 0, k, k - 1).astype(float)
    p = cdf(upper) - cdf(lower)
    return k, p / p.sum()


class Classes(NamedTuple):
    """The distinct conditional noise distributions and the share of samples that has each.

    ``x`` holds, per class, the sample values relative to the scene value (clipped ones piled up on the
    edge), ``p`` their probabilities and ``weight`` the share of samples. Scene values ``v`` and ``255 - v``
    mirror each other and share a class; every value far enough from both edges that no noise is clipped
    shares the last one."""

    x: np.ndarray  # (classes, offsets)
    p: np.ndarray  # (classes, offsets)
    weight: np.ndarray  # (classes,)


def classes(scene_histogram: np.ndarray, sigma: float) -> Classes:
    """``scene_histogram``: how many samples of the scene have each value 0..255."""
    k, pk = noise_pmf(sigma)
    reach = int(k[-1])
    share = scene_histogram / scene_histogram.sum()
    edge = [share[v] + share[255 - v] for v in range(reach)]
    middle = share[reach : 256 - reach].sum()
    values = [*range(reach), reach]  # the middle class: no clipping
    x = np.array([np.clip(v + k, 0, 255) - v for v in values], dtype=float)
    p = np.tile(pk, (len(values), 1))
    weight = np.array([*edge, middle])
    keep = weight > 0
    return Classes(x[keep], p[keep], weight[keep])


def bench_classes() -> Classes:
    """The classes of bench.quality's frames: the scene of its 60 frames, bench/frames.py's noise."""
    histogram = np.zeros(256)
    for scene in make_scene(WIDTH, HEIGHT, 60):
        histogram += np.bincount(scene.ravel(), minlength=256)
    return classes(histogram, NOISE_SIGMA)


class Slope(NamedTuple):
    """One slope's result, per sample and summed over the classes by weight (rates in nats)."""

    beta: float
    intercept: float  # rate >= intercept - beta * mse, at every mse
    mse: float  # an achievable point: this mean squared error...
    rate: float  # ...at this rate


def solve(cls: Classes, beta: float, q: np.ndarray | None = None, *, step: float = 0.5,
          gap: float = 2e-4, most: int = 20000) -> tuple[Slope, np.ndarray]:
    """Blahut's iteration at slope ``beta`` for every class at once, from ``q`` (uniform when None) over
    reproduction offsets ``step`` apart, until the achievable rate is within ``gap`` nats per sample of the
    bound at the same error (or after ``most`` rounds); returns the slope's line and point, and the last
    ``q`` (a warm start for a nearby slope)."""
    span = float(np.abs(cls.x).max()) + 4.0
    y = np.arange(-span, span + step / 2, step)
    d = (cls.x[:, :, None] - y[None, None, :]) ** 2  # (classes, offsets, reproductions)
    kernel = np.exp(-beta * d)
    fine = np.arange(-span - 4.0, span + 4.0, 0.01)
    fine_kernel = np.exp(-beta * (cls.x[:, :, None] - fine[None, None, :]) ** 2)
    if q is None:
        q = np.full((len(cls.weight), len(y)), 1.0 / len(y))
    w = cls.weight
    rounds = 0
    while True:
        for _ in range(200):
            den = (kernel @ q[:, :, None])[:, :, 0]
            c = ((cls.p / den)[:, None, :] @ kernel)[:, 0, :]
            # Over-relaxed (exponent 2 instead of 1): about half the rounds for the same gap here, where 4
            # diverged at the steeper slopes. The floor keeps every reproduction value alive, so one the
            # update has pushed down can come back; the bound below holds for any q, converged or not.
            q = np.maximum(q * c**2, 1e-30)
            q /= q.sum(axis=1, keepdims=True)
        rounds += 200
        den = (kernel @ q[:, :, None])[:, :, 0]
        cmax = ((cls.p / den)[:, None, :] @ fine_kernel)[:, 0, :].max(axis=1)
        intercept = -(cls.p * np.log(den)).sum(axis=1) - np.log(cmax)
        # The channel q defines, and its mutual information (against its own output distribution, which
        # is q once converged): a point a codec could reach.
        channel = kernel * q[:, None, :] / den[:, :, None]
        output = (cls.p[:, :, None] * channel).sum(axis=1)
        mse = (cls.p[:, :, None] * channel * d).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            info = np.where(channel > 0, channel * np.log(channel / output[:, None, :]), 0.0)
        rate = (cls.p[:, :, None] * info).sum(axis=(1, 2))
        slope = Slope(beta, float(w @ intercept), float(w @ mse), float(w @ rate))
        if slope.rate - (slope.intercept - beta * slope.mse) < gap or rounds >= most:
            return slope, q


def curve(cls: Classes, betas: Sequence[float], *, step: float = 0.5, gap: float = 2e-4) -> list[Slope]:
    """``solve`` along ``betas`` (ascending: lower and lower error), each slope warm-started from the last."""
    out: list[Slope] = []
    q = None
    for beta in betas:
        slope, q = solve(cls, beta, q, step=step, gap=gap)
        if out and not (slope.mse <= out[-1].mse and slope.rate >= out[-1].rate):
            # A steeper slope buys less error for more rate; anything else is an iteration gone wrong.
            raise RuntimeError(f"Blahut's iteration did not settle at slope {beta}: {slope} after {out[-1]}")
        out.append(slope)
    return out


def least_rate(slopes: Sequence[Slope], mse: float) -> float:
    """A lower bound on the nats per sample any codec needs for mean squared error ``mse``."""
    return max(0.0, *(s.intercept - s.beta * mse for s in slopes))


def least_mse(slopes: Sequence[Slope], rate: float) -> float:
    """A lower bound on the mean squared error any codec reaches at ``rate`` nats per sample."""
    return max(0.0, *((s.intercept - rate) / s.beta for s in slopes))


def achievable_mse(slopes: Sequence[Slope], rate: float) -> float | None:
    """The error the computed channels reach at ``rate`` (between two of them: each used for a share of the
    samples), or None outside the computed range."""
    return _between([(s.rate, s.mse) for s in slopes], rate)


def achievable_rate(slopes: Sequence[Slope], mse: float) -> float | None:
    """The rate at which the computed channels reach ``mse``, or None outside the computed range."""
    return _between([(s.mse, s.rate) for s in slopes], mse)


def _between(points: list[tuple[float, float]], at: float) -> float | None:
    """The straight line between the two (x, y) points around ``at``; None outside them."""
    points.sort()
    if not points[0][0] <= at <= points[-1][0]:
        return None
    return float(np.interp(at, [x for x, _ in points], [y for _, y in points]))


def psnr(mse: float) -> float:
    return 10.0 * math.log10(PEAK * PEAK / mse) if mse > 0 else math.inf


def mse_of(psnr_db: float) -> float:
    return PEAK * PEAK / 10.0 ** (psnr_db / 10.0)


def kb_per_frame(rate: float) -> float:
    """nats per sample -> KB (1024 bytes, as bench.quality counts) per 1280x720 frame."""
    return rate / math.log(2.0) * SAMPLES / 8.0 / 1024.0


def rate_of(kb: float) -> float:
    return kb * 1024.0 * 8.0 / SAMPLES * math.log(2.0)


# Slopes for errors from just under the scene-only one (about 30.6: no noise sent) to about 17 (35.7 dB,
# about 130 KB a frame), ascending, densest where the links' budgets fall; a slope is the curve's
# steepness, in nats per sample per unit of squared error.
BETAS = (0.015, 0.016, 0.017, 0.0175, 0.018, 0.019, 0.020, 0.022, 0.025, 0.028)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--psnr", default="33.5,33.73,33.79,33.81,34",
                        help="PSNR targets (dB against the fed frames), comma-separated")
    parser.add_argument("--kb", default="6.0,15.7,16.9,20.3,21.5,50,98",
                        help="bytes per frame (KB), comma-separated")
    args = parser.parse_args()
    started = time.perf_counter()
    cls = bench_classes()
    slopes = curve(cls, BETAS)
    scene_only = float(cls.weight @ (cls.p * cls.x**2).sum(axis=1))
    print(f"bench.quality's frames: 1280x720, gaussian noise sigma {NOISE_SIGMA:g} truncated and clipped; "
          f"the scene alone scores {psnr(scene_only):.2f} dB against them ({len(cls.weight)} noise classes, "
          f"{time.perf_counter() - started:.0f} s)")
    print("\nBytes per frame any codec needs at least (the scene given for free), against an ideal codec:")
    print(f"{'PSNR dB':>8} {'MSE':>7} {'at least KB':>12} {'ideal KB':>9}")
    for target in (float(t) for t in args.psnr.split(",")):
        mse = mse_of(target)
        ideal = achievable_rate(slopes, mse)
        shown = f"{kb_per_frame(ideal):9.1f}" if ideal is not None else f"{'-':>9}"
        print(f"{target:8.2f} {mse:7.2f} {kb_per_frame(least_rate(slopes, mse)):12.1f} {shown}")
    print("\nThe best PSNR any codec reaches at a given size (the average error over frames of that size):")
    print(f"{'KB/frame':>9} {'at most dB':>11} {'ideal dB':>9}")
    for kb in (float(k) for k in args.kb.split(",")):
        rate = rate_of(kb)
        reached = achievable_mse(slopes, rate)
        shown = f"{psnr(reached):9.2f}" if reached is not None else f"{'-':>9}"
        print(f"{kb:9.1f} {psnr(least_mse(slopes, rate)):11.2f} {shown}")
    print("\nLinks (payload only; framing and headers would leave less):")
    for mbit, fps in ((5, 28), (5, 28.4), (5, 30)):
        kb = mbit * 1e6 / 8 / fps / 1024
        print(f"  {mbit} Mbit/s at {fps:g} fps: {kb:.1f} KB a frame, at most "
              f"{psnr(least_mse(slopes, rate_of(kb))):.3f} dB")


if __name__ == "__main__":
    main()
