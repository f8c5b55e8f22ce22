"""Is the default style a local optimum of TSTR, with every knob moved at once? A response-surface screen.

Single-knob screens (docs/synthetic-log.md) found each style knob at an optimum where any step trades
one classifier for another. This asks the joint question. It draws random points around the default
style (each knob end moved by ``u * step``, ``u`` uniform in [-1, 1], all of them at once), trains the
three TSTR classifiers of ``benchmarks/synthetic.py`` on 30,000 digits of each point on one seed (the
seeds cycle over ``--seeds``, where the default is trained too, so every difference is paired by seed),
and fits each classifier's change by a quadratic in ``u`` (a slope and a curvature a knob end). It
prints them in points of TSTR a step, with t values, and the point the fit predicts best for all
three; ``--confirm`` then measures that point, and the point halfway to it, against the default on
other seeds. The fit is optimistic at its best point (it picks the noise it was fitted on): only the
confirmation counts.

    python benchmarks/style_surface.py --lane 0/2 --out surface0.jsonl &   # 180 points: ~80 min on
    python benchmarks/style_surface.py --lane 1/2 --out surface1.jsonl &   # two cores (20 s a point)
    python benchmarks/style_surface.py --fit surface0.jsonl surface1.jsonl
    python benchmarks/style_surface.py --confirm surface0.jsonl surface1.jsonl --seeds 60-69 --out confirm.jsonl

Jobs already in ``--out`` are skipped, so a run can be stopped and started again.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

import numpy as np

from synthetic import DEFAULT_DATA, generate, load_real, tstr

from datumaro_mnist_plugins.synthetic.style import DigitStyle

#: The knob ends moved: (field, which end (0, 1, or None for a scalar, "both" for a symmetric range), step).
KNOBS = (("stroke_width", 0, 0.15), ("stroke_width", 1, 0.3), ("stroke_width_jitter", None, 0.05),
         ("slant", 0, 3.0), ("slant", 1, 3.0), ("rotation", "both", 2.0), ("aspect", 0, 0.04),
         ("aspect", 1, 0.04), ("jitter", None, 0.006), ("jitter_spread", None, 0.1),
         ("elastic_alpha", None, 5.0), ("elastic_sigma", None, 0.5), ("taper", None, 0.4),
         ("spring_frequency", 0, 0.05), ("spring_frequency", 1, 0.08), ("spring_damping", 0, 0.1),
         ("spring_damping", 1, 0.1))
PARTS = ("svc", "knn", "mlp")
COUNT = 30_000
DESIGN_SEED = 2026


def knob_name(knob: tuple) -> str:
    field, end, _ = knob
    return field if end is None else f"{field}[{end}]"


def style_at(u: np.ndarray) -> DigitStyle:
    """The default style with each knob end moved by ``u * step``."""
    default, changes = DigitStyle(), {}
    for (field, end, step), value in zip(KNOBS, u):
        current = changes.get(field, getattr(default, field))
        if end is None:
            changes[field] = current + value * step
        elif end == "both":
            changes[field] = (current[0] - value * step, current[1] + value * step)
        else:
            pair = list(current)
            pair[end] += value * step
            changes[field] = tuple(pair)
    return DigitStyle(**changes)


def scores(u: np.ndarray, seed: int, real: np.ndarray, labels: np.ndarray) -> dict:
    """TSTR (percent) of each classifier trained on COUNT digits of the style at *u*, on *seed*."""
    images, train_labels, _ = generate(COUNT, seed, style_at(u))
    fits = tstr(images, train_labels, real, labels, False, set(PARTS))
    return {name: round(100 * fit.accuracy, 2) for name, fit in fits.items()}


def read_rows(paths: list[str]) -> list[dict]:
    """The measured rows of these JSON-lines files (a missing file has none yet)."""
    rows = []
    for path in (p for p in paths if osp.exists(p)):
        with open(path) as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def run(jobs: list[tuple[str, int, np.ndarray]], out: str, lane: tuple[int, int], real, labels) -> None:
    """Measure each job (name, seed, u) of this lane not already in *out*, appending one line each."""
    done = {(row["name"], row["seed"]) for row in read_rows([out])}
    for number, (name, seed, u) in enumerate(jobs):
        if number % lane[1] != lane[0] or (name, seed) in done:
            continue
        row = {"name": name, "seed": seed, "u": np.round(u, 4).tolist(), **scores(u, seed, real, labels)}
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(name, seed, *(row[p] for p in PARTS), flush=True)


def surface_jobs(points: int, seeds: list[int]) -> list:
    """The default on every seed, then the design's points, seeds in turn."""
    design = np.random.default_rng(DESIGN_SEED).uniform(-1, 1, (points, len(KNOBS)))
    zero = np.zeros(len(KNOBS))
    return [("default", s, zero) for s in seeds] + [(f"p{i}", seeds[i % len(seeds)], u) for i, u in enumerate(design)]


def fit(rows: list[dict], ridge: float = 2.0) -> dict:
    """Each classifier's change from the default (same seed) as b.u + c.u^2; coefficients and t values."""
    base = {row["seed"]: row for row in rows if row["name"] == "default"}
    points = [row for row in rows if row["name"].startswith("p") and row["seed"] in base]
    u = np.array([row["u"] for row in points])
    x = np.hstack([u, u * u])
    fits = {}
    for part in PARTS:
        change = np.array([row[part] - base[row["seed"]][part] for row in points])
        coef = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ change)
        resid = change - x @ coef
        var = resid @ resid / max(1, len(change) - x.shape[1]) * np.linalg.pinv(x.T @ x)
        fits[part] = (coef, coef / np.sqrt(np.diag(var)))
    return {"fits": fits, "count": len(points)}


def predicted(fits: dict, u: np.ndarray) -> dict:
    k = len(KNOBS)
    return {part: float(coef[:k] @ u + coef[k:] @ (u * u)) for part, (coef, _) in fits.items()}


def best_point(fits: dict) -> np.ndarray:
    """The u in [-1, 1]^k the fit predicts best: the least of the three gains, plus a fifth of their sum."""
    from scipy.optimize import minimize

    def loss(u):
        gains = predicted(fits, u)
        return -min(gains.values()) - 0.2 * sum(gains.values())

    starts = np.random.default_rng(0).uniform(-0.5, 0.5, (40, len(KNOBS)))
    results = [minimize(loss, start, bounds=[(-1, 1)] * len(KNOBS), method="L-BFGS-B") for start in starts]
    return min(results, key=lambda r: r.fun).x


def print_fit(result: dict) -> np.ndarray:
    fits = result["fits"]
    print(f"{result['count']} points; change from the default in points of TSTR a step (t value)")
    print(f"{'knob end':24s}" + "".join(f"{p + ' slope':>16s}{p + ' curve':>16s}" for p in PARTS))
    k = len(KNOBS)
    for i, knob in enumerate(KNOBS):
        cells = "".join(f"{coef[i]:+8.2f} ({t[i]:+5.1f}){coef[k + i]:+8.2f} ({t[k + i]:+5.1f})"
                        for coef, t in (fits[p] for p in PARTS))
        print(f"{knob_name(knob):24s}{cells}")
    u = best_point(fits)
    gains = predicted(fits, u)
    moved = (f"{knob_name(knob)} {v:+.2f}" for knob, v in zip(KNOBS, u) if abs(v) > 0.05)
    print("best point by the fit: " + ", ".join(moved))
    print("its predicted change: " + ", ".join(f"{p} {g:+.2f}" for p, g in gains.items()) + " (optimistic)")
    return u


def print_confirm(rows: list[dict]) -> None:
    base = {row["seed"]: row for row in rows if row["name"] == "default"}
    print("default: " + ", ".join(f"{p} {np.mean([r[p] for r in base.values()]):.2f}" for p in PARTS))
    for name in ("best", "halfway"):
        mine = {row["seed"]: row for row in rows if row["name"] == name and row["seed"] in base}
        if not mine:
            continue
        cells = []
        for p in PARTS:
            d = np.array([mine[s][p] - base[s][p] for s in mine])
            cells.append(f"{p} {d.mean():+.2f} (up on {(d > 0).sum()} of {len(d)})")
        print(f"{name}: " + ", ".join(cells))


def seed_range(text: str) -> list[int]:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=180, help="random points around the default (default 180)")
    parser.add_argument("--seeds", default=None, help="seed range, e.g. 40-59 (default; 60-69 with --confirm)")
    parser.add_argument("--lane", default="0/1", help="i/n: measure every n-th job from the i-th (parallel runs)")
    parser.add_argument("--out", help="JSON lines to append to (and skip what is there)")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--fit", nargs="+", metavar="JSONL", help="fit the surface of these runs and stop")
    parser.add_argument("--confirm", nargs="+", metavar="JSONL", help="measure the fit's best point on --seeds")
    args = parser.parse_args(argv)
    if args.fit:
        print_fit(fit(read_rows(args.fit)))
        return 0
    if not args.out:
        parser.error("--out is needed to measure")
    loaded = load_real(args.data)
    if loaded is None:
        return 2
    images, labels = loaded
    lane = tuple(int(v) for v in args.lane.split("/"))
    if args.confirm:
        u = print_fit(fit(read_rows(args.confirm)))
        jobs = [job for s in seed_range(args.seeds or "60-69")
                for job in (("default", s, np.zeros(len(KNOBS))), ("best", s, u), ("halfway", s, u / 2))]
    else:
        jobs = surface_jobs(args.points, seed_range(args.seeds or "40-59"))
    run(jobs, args.out, lane, images, labels)
    if args.confirm:
        print_confirm(read_rows([args.out]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
