"""Tune the generator's scalar tables against TSTR itself: class shapes, allograph weights, style ranges.

What it fits (tens of numbers, no pixels): ``CLASS_SHAPE`` (five scalars a class), the relative
frequency of each allograph in ``ALLOGRAPHS``, and the default style ranges of ``DigitStyle`` (pen
width, slant, rotation, aspect, jitter, elastic alpha and sigma, pen-width jitter).

The objective is train-on-synthetic, test-on-real on the FIRST half of ``mnist-dev`` only (the second
half is for ``benchmarks/synthetic.py`` to confirm), on N generated digits that always come from the same
random streams (common random numbers: item i of class c is drawn from ``item_rng(SEED, "tune", i)``
whatever the candidate, so candidates differ only by their parameters). Two objectives:

* ``svc`` (default): the benchmark's classifier, PCA(50) + RBF-SVC (C=10), on N digits (5,000: a few
  seconds), the PCA basis and the kernel width fixed at the start; scored by a smooth margin — each real
  digit's mean softplus loss over the nine one-vs-one decision values that involve its true class —
  so a step that moves no prediction still counts.
* ``knn``: a soft nearest-neighbour classifier — each real digit's score for class c is a log-sum-exp
  of ``-d^2 / T`` over its K nearest generated digits of class c (raw pixels), the objective the mean
  log-probability of its true class. A class's shapes and weights change only its own digits, so a
  candidate re-measures one tenth of them (half a second for 10,000).

Neither has carried over to the benchmark's 30,000 digits yet (docs/synthetic.md, "Tuning the tables"):
on a few thousand digits, another sample moves TSTR more than a step does, so the descent fits the
sample's luck. ``--samples`` keeps a step only if it gains on each of several independent samples.

The optimizer is coordinate descent with shrinking steps: each scalar in turn is walked by +-step while
the objective rises by more than ``--min-gain``; steps halve each round. Progress goes to stdout (run it
in the background with a log), the best tables so far to ``--out`` (JSON) after every gain, and at the
end the tables to paste into ``synthetic/allographs.py`` and ``synthetic/style.py``. ``--check N``
prints the benchmark's TSTR (N digits, seed 0, both halves) for the tables of ``--start`` before pasting.

    python benchmarks/tune_style.py --only classes --rounds 2 --out tune.json > tune.log 2>&1 &
    python benchmarks/tune_style.py --check 30000 --start tune.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from dataclasses import replace

import numpy as np

from synthetic import DEFAULT_DATA, load_real

from datumaro_mnist_plugins.synthetic import strokes
from datumaro_mnist_plugins.synthetic.allographs import ALLOGRAPHS, CLASS_SHAPE
from datumaro_mnist_plugins.synthetic.raster import finish
from datumaro_mnist_plugins.synthetic.style import DigitStyle, item_rng

SEED = 7
#: First step and bounds of the class-shape scalars: slant (degrees), width, waist, bow, taper.
SHAPE_STEP = (2.0, 0.04, 0.04, 0.03, 0.1)
SHAPE_LOW, SHAPE_HIGH = (-20.0, 0.7, -0.2, -0.15, -0.6), (20.0, 1.3, 0.2, 0.15, 0.6)
#: An allograph's weight moves by this factor (and its inverse); kept within [WEIGHT_MIN, 20].
WEIGHT_FACTOR, WEIGHT_MIN = 1.6, 0.05
#: Style knobs: (first step, low, high); a pair knob is tuned as its two ends, low <= high kept.
STYLE_STEP = {
    "stroke_width": (0.2, 0.8, 4.5), "slant": (3.0, -40.0, 40.0), "rotation": (2.0, -20.0, 20.0),
    "aspect": (0.04, 0.6, 1.5), "jitter": (0.01, 0.0, 0.15), "elastic_alpha": (8.0, 0.0, 120.0),
    "elastic_sigma": (0.5, 2.0, 10.0), "stroke_width_jitter": (0.04, 0.0, 0.4),
}


class Params:
    """The tuned tables: class shapes, allograph weights and the default style."""

    def __init__(self, shapes=None, weights=None, style=None):
        self.shapes = {d: tuple(map(float, s)) for d, s in (shapes or CLASS_SHAPE).items()}
        self.weights = {d: dict(w) for d, w in (weights or {d: {n: float(v[0]) for n, v in a.items()}
                                                            for d, a in ALLOGRAPHS.items()}).items()}
        self.style = style or DigitStyle()

    def copy(self, **changes) -> "Params":
        made = Params(self.shapes, self.weights, self.style)
        for key, value in changes.items():
            setattr(made, key, value)
        return made

    def table(self):
        """Compiled glyphs (bent by the shapes) with cumulative probabilities from the weights."""
        compiled = strokes._compile_table(self.shapes)
        out = []
        for digit, (glyphs, _) in enumerate(compiled):
            w = np.array([self.weights[digit][g.name] for g in glyphs])
            out.append((glyphs, (np.cumsum(w) / w.sum()).tolist()))
        return tuple(out)

    def to_json(self) -> dict:
        return {"CLASS_SHAPE": self.shapes, "weights": self.weights,
                "style": {k: getattr(self.style, k) for k in STYLE_STEP}}

    @classmethod
    def from_json(cls, data: dict) -> "Params":
        style = DigitStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["style"].items()})
        return cls({int(d): s for d, s in data["CLASS_SHAPE"].items()},
                   {int(d): w for d, w in data["weights"].items()}, style)


@contextlib.contextmanager
def glyph_table(table):
    """Draw with *table* in place of the shipped one (benchmark only: swaps the renderer's table)."""
    saved = strokes._GLYPHS
    strokes._GLYPHS = table
    try:
        yield
    finally:
        strokes._GLYPHS = saved


def draw_class(params: Params, digit: int, count: int, table=None, seed: int = SEED) -> np.ndarray:
    """The *count* generated digits of class *digit* (items digit, digit + 10, ...), flattened in [0, 1]."""
    items = range(digit, 10 * count, 10)
    with glyph_table(table or params.table()):
        scans = strokes.scan_digits([digit] * count, (item_rng(seed, "tune", i) for i in items), params.style)
    images = finish(scans, params.style.image_size)
    return images.reshape(count, -1).astype(np.float32) / 255.0


class Objective:
    """Soft nearest-neighbour TSTR on fixed real digits, cached per class (see the module docstring)."""

    def __init__(self, real: np.ndarray, labels: np.ndarray, count: int, k: int, temperature: float, seed: int = SEED):
        self.seed = seed
        self.real = real.reshape(len(real), -1).astype(np.float32) / 255.0
        self.real_norms = (self.real**2).sum(axis=1)
        self.labels, self.count, self.k, self.t = labels, count // 10, k, temperature
        self.nearest = np.zeros((10, len(real), k), dtype=np.float32)  # per class: sorted K nearest d^2
        self.evaluations = 0

    def class_distances(self, synthetic: np.ndarray) -> np.ndarray:
        d2 = self.real_norms[:, None] - 2.0 * self.real @ synthetic.T + (synthetic**2).sum(axis=1)[None]
        part = np.partition(d2, self.k - 1, axis=1)[:, : self.k]
        return np.sort(np.maximum(part, 0.0), axis=1)

    def score(self, nearest: np.ndarray) -> dict:
        """Mean log-probability of the true class, and kNN-1 / kNN-3 accuracy, from per-class nearests."""
        logits = np.logaddexp.reduce(-nearest / self.t, axis=2).T  # (n_real, 10)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        rows = np.arange(len(self.labels))
        flat = nearest.transpose(1, 0, 2).reshape(len(self.labels), -1)
        order = np.argsort(flat, axis=1)[:, :3] // self.k
        knn3 = np.array([np.bincount(o, minlength=10).argmax() if len(set(o)) < 3 else o[0] for o in order])
        recall = np.array([(order[self.labels == d, 0] == d).mean() for d in range(10)])
        return {"value": float(logp[rows, self.labels].mean()), "acc": float((order[:, 0] == self.labels).mean()),
                "knn3": float((knn3 == self.labels).mean()), "recall": recall}

    def evaluate(self, params: Params, digits=range(10)) -> tuple[dict, np.ndarray]:
        """The score of *params* redrawing only *digits* (the others from the cache), and the new cache."""
        nearest = self.nearest.copy()
        table = params.table()
        for digit in digits:
            nearest[digit] = self.class_distances(draw_class(params, digit, self.count, table, self.seed))
        self.evaluations += 1
        return self.score(nearest), nearest

    def keep(self, nearest: np.ndarray) -> None:
        self.nearest = nearest


class SvcObjective:
    """TSTR of an RBF-SVC (C=10) on a fixed PCA(50) basis: the benchmark's classifier on fewer digits,
    scored by a smooth margin — each real digit's mean softplus loss over the nine one-vs-one decision
    values that involve its true class (negated: higher is better) — beside its plain accuracy."""

    def __init__(self, real: np.ndarray, labels: np.ndarray, count: int, start: Params, seed: int = SEED):
        from sklearn.decomposition import PCA

        self.count, self.labels, self.seed = count // 10, labels, seed
        self.cache = np.stack([draw_class(start, d, self.count, None, seed) for d in range(10)])
        self.pca = PCA(50, random_state=0).fit(self.cache.reshape(-1, self.cache.shape[-1]))
        self.real = self.pca.transform(real.reshape(len(real), -1).astype(np.float32) / 255.0)
        train = self.pca.transform(self.cache.reshape(-1, self.cache.shape[-1]))
        self.gamma = 1.0 / (train.shape[1] * train.var())  # sklearn's "scale", fixed once
        pairs = [(i, j) for i in range(10) for j in range(i + 1, 10)]
        # sign[x, p]: +1 if pair p is (true class, other), -1 if (other, true class), 0 if not involved
        self.sign = np.array([[1.0 if i == y else -1.0 if j == y else 0.0 for i, j in pairs] for y in labels])
        self.evaluations = 0

    def evaluate(self, params: Params, digits=range(10)) -> tuple[dict, np.ndarray]:
        from sklearn.svm import SVC

        cache = self.cache.copy()
        table = params.table()
        for digit in digits:
            cache[digit] = draw_class(params, digit, self.count, table, self.seed)
        train = self.pca.transform(cache.reshape(-1, cache.shape[-1]))
        model = SVC(C=10, gamma=self.gamma, decision_function_shape="ovo").fit(train, np.repeat(np.arange(10), self.count))
        margin = model.decision_function(self.real) * self.sign
        loss = (np.logaddexp(0.0, -2.0 * margin) * (self.sign != 0)).sum(axis=1) / 9.0
        predicted = model.predict(self.real)
        recall = np.array([(predicted[self.labels == d] == d).mean() for d in range(10)])
        self.evaluations += 1
        return {"value": -float(loss.mean()), "acc": float((predicted == self.labels).mean()), "recall": recall}, cache

    def keep(self, cache: np.ndarray) -> None:
        self.cache = cache


def coordinates(params: Params):
    """Every tuned scalar as (label, digits it redraws, move(params, sign, scale) -> Params or None)."""
    def shape(digit, k):
        def move(p, sign, scale):
            values = list(p.shapes[digit])
            values[k] = float(np.clip(round(values[k] + sign * SHAPE_STEP[k] * scale, 4), SHAPE_LOW[k], SHAPE_HIGH[k]))
            return None if values[k] == p.shapes[digit][k] else p.copy(shapes={**p.shapes, digit: tuple(values)})
        return f"CLASS_SHAPE[{digit}].{'slant width waist bow taper'.split()[k]}", (digit,), move

    def weight(digit, name):
        def move(p, sign, scale):
            old = p.weights[digit][name]
            new = float(np.clip(round(old * WEIGHT_FACTOR ** (sign * scale), 3), WEIGHT_MIN, 20.0))
            return None if new == old else p.copy(weights={**p.weights, digit: {**p.weights[digit], name: new}})
        return f"weight {digit}.{name}", (digit,), move

    def style(knob, end):
        step, low, high = STYLE_STEP[knob]
        def move(p, sign, scale):
            value = getattr(p.style, knob)
            ends = list(value) if end is not None else [value]
            ends[end or 0] = float(np.clip(round(ends[end or 0] + sign * step * scale, 4), low, high))
            if end is not None and ends[0] > ends[1]:
                return None
            new = tuple(ends) if end is not None else ends[0]
            return None if new == value else p.copy(style=replace(p.style, **{knob: new}))
        return f"style {knob}" + ("" if end is None else f"[{end}]"), tuple(range(10)), move

    for digit in range(10):
        yield from (shape(digit, k) for k in range(5))
        yield from (weight(digit, name) for name in params.weights[digit])
    for knob in STYLE_STEP:
        yield from (style(knob, end) for end in ((0, 1) if isinstance(getattr(params.style, knob), tuple) else (None,)))


def gains(objectives: list, state: dict, candidate: Params, digits, min_gain: float):
    """The candidate's scores and caches on every sample, or None as soon as one sample does not gain
    (a step kept only if it helps on each independent sample of generated digits: not one sample's luck)."""
    scores, caches = [], []
    for objective, current in zip(objectives, state["scores"]):
        score, cache = objective.evaluate(candidate, digits)
        if score["value"] <= current["value"] + min_gain:
            return None
        scores.append(score)
        caches.append(cache)
    return scores, caches


def descend(objectives: list, best: Params, state: dict, args, log, scale: float, only: str) -> Params:
    """One round of coordinate descent: each scalar walked by +-step (times *scale*) while it gains."""
    for label, digits, move in coordinates(best):
        if only != "all" and (label.startswith("style")) != (only == "style"):
            continue
        for sign in (1.0, -1.0):
            walked = False
            while time.time() < state["deadline"]:
                candidate = move(best, sign, scale)
                if candidate is None:
                    break
                gained = gains(objectives, state, candidate, digits, args.min_gain)
                if gained is None:
                    break
                best, state["scores"], walked = candidate, gained[0], True
                for objective, cache in zip(objectives, gained[1]):
                    objective.keep(cache)
                log(f"  {label} -> {describe(best, label)}: {fmts(state['scores'])}")
                with open(args.out, "w") as out:
                    json.dump(best.to_json(), out, indent=1)
            if walked:
                break
    return best


def describe(params: Params, label: str) -> str:
    if label.startswith("CLASS_SHAPE"):
        digit = int(label[12])
        return str(params.shapes[digit])
    if label.startswith("weight"):
        digit, name = label.split()[1].split(".", 1)
        return str(params.weights[int(digit)][name])
    return str(getattr(params.style, label.split()[1].split("[")[0]))


def fmt(score: dict) -> str:
    return f"objective {score['value']:.4f}, accuracy {score['acc']:.2%}"


def fmts(scores: list) -> str:
    return "; ".join(fmt(score) for score in scores)


def print_tables(params: Params) -> None:
    """The tables to paste into synthetic/allographs.py and synthetic/style.py."""
    print("CLASS_SHAPE = {")
    for digit, shape in params.shapes.items():
        print(f"    {digit}: ({', '.join(f'{v:g}' for v in shape)}),")
    print("}")
    print("allograph weights (first number of each ALLOGRAPHS entry):")
    for digit, weights in params.weights.items():
        print(f"    {digit}: " + ", ".join(f"{name}={w:g}" for name, w in weights.items()))
    print("DigitStyle defaults:")
    for knob in STYLE_STEP:
        print(f"    {knob} = {getattr(params.style, knob)}")


def check(params: Params, real: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> None:
    """TSTR of PCA(50) + SVC(C=10) trained on *count* digits drawn with *params* exactly as
    ``benchmarks/synthetic.py`` draws the shipped tables (its ``--seed``), on each half of the real digits."""
    from synthetic import generate, tstr

    with glyph_table(params.table()):
        images, train_labels, _ = generate(count, seed, params.style)
    fit = tstr(images, train_labels, real, labels, False, {"svc"})["svc"]
    acc, recall, predicted = fit.accuracy, fit.recall, fit.predicted
    half = len(real) // 2
    halves = [float((predicted[p] == labels[p]).mean()) for p in (slice(0, half), slice(half, None))]
    print(f"TSTR svc, {count} generated (seed {seed}): {acc:.2%} (first half {halves[0]:.2%}, second half {halves[1]:.2%})")
    print("  recall by class: " + " ".join(f"{d}:{r:.3f}" for d, r in enumerate(recall)), flush=True)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--count", type=int, default=5_000, help="generated digits a sample (a tenth a class)")
    parser.add_argument("--samples", type=int, default=2,
                        help="independent samples of generated digits; a step is kept only if each gains")
    parser.add_argument("--objective", choices=("svc", "knn"), default="svc")
    parser.add_argument("--k", type=int, default=10, help="knn: nearest generated digits a class scores by")
    parser.add_argument("--temperature", type=float, default=3.0, help="knn: T of exp(-d^2 / T)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of descent; steps halve each round")
    parser.add_argument("--minutes", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--min-gain", type=float, default=3e-4, help="smallest rise of the objective that counts")
    parser.add_argument("--only", choices=("all", "classes", "style"), default="all")
    parser.add_argument("--start", help="JSON of tables to start from (a previous --out)")
    parser.add_argument("--out", default="tune_style.json", help="best tables so far, as JSON")
    parser.add_argument("--check", type=int, metavar="N",
                        help="don't tune: print SVC TSTR of N digits drawn with the --start tables, both halves")
    parser.add_argument("--check-seed", type=int, default=0, help="the seed --check draws with (as synthetic.py's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    loaded = load_real(args.data)
    if loaded is None:
        return 2
    images, labels = loaded
    best = Params.from_json(json.load(open(args.start))) if args.start else Params()
    if args.check:
        check(best, images, labels, args.check, args.check_seed)
        return 0
    real, real_labels = images[: len(images) // 2], labels[: len(images) // 2]  # the second half confirms
    objectives = [SvcObjective(real, real_labels, args.count, best, SEED + k) if args.objective == "svc" else
                  Objective(real, real_labels, args.count, args.k, args.temperature, SEED + k)
                  for k in range(args.samples)]
    started = time.time()
    log = lambda text: print(f"[{time.time() - started:6.0f} s, {sum(o.evaluations for o in objectives)} evals] "  # noqa: E731
                             f"{text}", flush=True)
    scores = []
    for objective in objectives:
        score, cache = objective.evaluate(best)
        objective.keep(cache)
        scores.append(score)
    state = {"scores": scores, "deadline": started + 60 * args.minutes}
    log(f"start: {fmts(scores)}; recall by class {np.round(scores[0]['recall'], 3).tolist()}")
    for round_ in range(args.rounds):
        best = descend(objectives, best, state, args, log, 0.5**round_, args.only)
        log(f"round {round_ + 1} done: {fmts(state['scores'])}; recall {np.round(state['scores'][0]['recall'], 3).tolist()}")
    print_tables(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
