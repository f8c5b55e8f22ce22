"""How MNIST-like are the synthetic digits? Every realism figure of issue 13, from one script.

Prints, against real digits (default ``../shared/data/mnist-dev``, 5,000 real MNIST test digits):

* TSTR (train on synthetic, test on real) for PCA(50)+SVC(C=10), kNN-3 and an MLP(256), with the
  per-class recall, beside the same classifiers trained on real digits (one half of the real set,
  tested on the other: the reference), and the real digits only the generated-trained one gets wrong
  (on the second half, where the reference reads them right: what the generated digits miss);
* the two-sample accuracy: HistGradientBoosting on raw pixels telling synthetic from real
  (2,500+2,500 to train, 2,500+2,500 to test; 0.5 = indistinguishable), beside real-vs-real (the two
  halves of the real set);
* the *tell* of each summary statistic: the best single-threshold accuracy separating synthetic from
  real (0.5 = no tell), with both medians;
* with ``curve`` (in the default): what the TSTR figures are worth in real digits, from the
  classifiers' learning curve on real digits (625, 1,250 and 2,500 of one half, tested on the other,
  both ways; a power law through the error rates): issue 13 asks for "as good as 5,000 real digits";
* the generation rate on one core (CPU time of this process);
* with ``--only ...,twin``: a twin recipe estimated from the real digits vs the default recipe, TSTR of
  each and McNemar's paired test on the SVC's predictions; then the same on the real digits made unlike
  MNIST (shrunk on a noisy background; binarized; dimmed; softened), where the default recipe can't
  match them and a twin should.

scikit-learn (and the SciPy it brings) is a benchmark-only dependency, never a runtime one.
Without ``../shared/data`` (a clone) it falls back to the 100 real digits in ``assets/mnist-sample``,
with a note: figures on 100 digits are only a smoke test.

    python benchmarks/synthetic.py                       # everything, 30,000 synthetic digits
    python benchmarks/synthetic.py --train 5000 --only svc,stats   # quick iteration
    python benchmarks/synthetic.py --sheet assets/sheets  # also write synthetic.png and real.png
    python benchmarks/synthetic.py --only svc --more-seeds 4       # TSTR on seeds 0-4 and its mean
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import os
import os.path as osp
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
with warnings.catch_warnings():  # without Datumaro the package's plugin registration only warns
    warnings.simplefilter("ignore", RuntimeWarning)
    from datumaro_mnist_plugins.codecs.idx import read_idx
    from datumaro_mnist_plugins.synthetic.strokes import DIGIT_CLASSES, DigitStyle, item_rng, render_digit

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
DEFAULT_DATA = osp.normpath(osp.join(REPO, "..", "shared", "data", "mnist-dev"))
SAMPLE_DATA = osp.join(REPO, "assets", "mnist-sample")
PARTS = ("svc", "knn", "mlp", "curve", "two-sample", "stats", "twin")


def load_real(folder: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Real images and labels from an IDX pair in *folder*, or None (with a note) if unreadable."""
    try:
        images = np.asarray(read_idx(osp.join(folder, IMAGES)))
        labels = np.asarray(read_idx(osp.join(folder, LABELS))).astype(np.int64)
    except Exception as error:  # a benchmark explains and moves on, never a traceback
        print(f"note: cannot read real digits in {folder}: {error}")
        return None
    if images.ndim != 3 or len(images) != len(labels):
        print(f"note: {folder} does not hold matching 3-D images and labels")
        return None
    return images, labels


def generate(count: int, seed: int, style: DigitStyle, proportions=None) -> tuple[np.ndarray, np.ndarray, float]:
    """``count`` digits of subset "train" (classes in turn, or drawn with *proportions*); images,
    labels and the rate in digits per CPU second of this single-threaded process."""
    if proportions is None:
        labels = np.arange(count) % len(DIGIT_CLASSES)
    else:
        # Counts by largest remainder, in a shuffled order: the mix exactly, without the sampling noise
        # of drawing each label (which alone moves TSTR on a few thousand digits).
        shares = np.asarray(proportions, dtype=np.float64) / np.sum(proportions)
        counts = np.floor(shares * count).astype(np.int64)
        counts[np.argsort(counts - shares * count)[: count - counts.sum()]] += 1
        labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(DIGIT_CLASSES)), counts))
    images = np.empty((count, style.image_size, style.image_size), dtype=np.uint8)
    start = time.process_time()
    for index in range(count):
        images[index] = render_digit(int(labels[index]), item_rng(seed, "train", index), style)
    return images, labels, count / max(time.process_time() - start, 1e-9)


def classifiers(parts: set[str]) -> dict:
    """The TSTR classifiers, by name."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    made = {
        "svc": lambda: make_pipeline(PCA(50, random_state=0), SVC(C=10, kernel="rbf")),
        "knn": lambda: KNeighborsClassifier(3),
        "mlp": lambda: MLPClassifier((256,), max_iter=40, early_stopping=False, random_state=0),
    }
    return {name: make for name, make in made.items() if name in parts}


def flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def halves(count: int) -> dict[str, slice]:
    """The real digits' parts: fitted tables use the first half only, so the second is their check."""
    return {"all": slice(None), "first": slice(0, count // 2), "second": slice(count // 2, None)}


def accuracy_by_half(predicted: np.ndarray, labels: np.ndarray) -> list[float]:
    """Accuracy on all the real digits, on the first half and on the second."""
    return [float((predicted[part] == labels[part]).mean()) for part in halves(len(labels)).values()]


class Fit(NamedTuple):
    """One classifier trained on generated digits and tested on the real ones."""

    accuracy: float
    reference: float | None  # the same classifier trained on the first real half, on the second
    recall: list
    predicted: np.ndarray
    seconds: float
    reference_predicted: np.ndarray | None  # its predictions on the second half


def tstr(train, train_labels, real, real_labels, reference, parts) -> dict[str, Fit]:
    """Accuracy and per-class recall of each classifier trained on *train*; with the real-vs-real
    reference (train on one half of the real digits, test on the other)."""
    results = {}
    half = len(real) // 2
    for name, make in classifiers(parts).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the MLP's "not converged" at a fixed epoch budget
            predicted = make().fit(flat(train), train_labels).predict(flat(real))
            ref = ref_pred = None
            if reference and half >= 50:
                ref_pred = make().fit(flat(real[:half]), real_labels[:half]).predict(flat(real[half:]))
                ref = float((ref_pred == real_labels[half:]).mean())
        recall = [float((predicted[real_labels == d] == d).mean()) if (real_labels == d).any() else math.nan
                  for d in range(len(DIGIT_CLASSES))]
        results[name] = Fit(float((predicted == real_labels).mean()), ref, recall, predicted,
                            time.perf_counter() - start, ref_pred)
    return results


def domain_gap(fit: Fit, real_labels: np.ndarray, top: int = 6) -> str:
    """The second half's digits only the generated-trained classifier gets wrong (the real-trained one
    reads them right), by true -> predicted class: what generated digits miss, apart from the digits
    that are hard for any training set (where to look next; it found the 5 with a floating bar)."""
    half = len(real_labels) // 2
    truth, predicted = real_labels[half:], fit.predicted[half:]
    only = (predicted != truth) & (fit.reference_predicted == truth)
    pairs = collections.Counter(zip(truth[only].tolist(), predicted[only].tolist())).most_common(top)
    both = int(((predicted != truth) & (fit.reference_predicted != truth)).sum())
    return (f"  wrong only when trained on generated digits: {int(only.sum())} of the second half's {half} "
            f"(wrong either way: {both}); most: " + ", ".join(f"{t}->{p} {n}" for (t, p), n in pairs))


#: Real training set sizes of the learning curve (``curve``): each drawn from one half of the real digits.
CURVE_SIZES = (625, 1250, 2500)


def real_curve(real: np.ndarray, real_labels: np.ndarray, names) -> dict:
    """Each classifier's error trained on CURVE_SIZES real digits of one half, tested on the other half
    (both ways, and several draws of the smaller sizes, averaged), and the power law ``error = a * n ** b``
    through them: (sizes, errors, a, b)."""
    part = halves(len(real))
    parts = [(part["first"], part["second"]), (part["second"], part["first"])]
    half = len(real) // 2
    sizes = [n for n in CURVE_SIZES if n <= half]
    curves = {}
    for name, make in classifiers(set(names)).items():
        errors = []
        for n in sizes:
            wrong = []
            for (train, test), draw in itertools.product(parts, range(max(1, 2500 // n))):  # small: several draws
                pick = np.random.default_rng([n, draw]).permutation(half)[:n]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = make().fit(flat(real[train][pick]), real_labels[train][pick])
                wrong.append(float((model.predict(flat(real[test])) != real_labels[test]).mean()))
            errors.append(float(np.mean(wrong)))
        b, log_a = np.polyfit(np.log(sizes), np.log(errors), 1) if len(sizes) > 1 else (math.nan, math.nan)
        curves[name] = (sizes, errors, math.exp(log_a), b)
    return curves


def print_real_worth(results: dict, real: np.ndarray, real_labels: np.ndarray) -> None:
    """How many real digits each classifier's TSTR is worth, on the real learning curve."""
    for name, (sizes, errors, a, b) in real_curve(real, real_labels, results).items():
        if not (b < 0):
            print(f"real learning curve {name}: too few real digits to fit one")
            continue
        worth = ((1.0 - results[name].accuracy) / a) ** (1.0 / b)
        print(f"TSTR {name} is worth about {worth:,.0f} real digits (real: " + ", ".join(
            f"{n} -> {1 - e:.2%}" for n, e in zip(sizes, errors)) + f"; 5,000 would give about {1 - a * 5000 ** b:.2%})")


def two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """Held-out accuracy of HistGradientBoosting telling *a* from *b* on raw pixels (equal halves)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    n = min(len(a), len(b)) // 2
    x_train = np.vstack([flat(a[:n]), flat(b[:n])])
    x_test = np.vstack([flat(a[n : 2 * n]), flat(b[n : 2 * n])])
    y = np.r_[np.zeros(n), np.ones(n)]
    model = HistGradientBoostingClassifier(random_state=0).fit(x_train, y)
    return float((model.predict(x_test) == y).mean())


# --- summary statistics -------------------------------------------------------------------------------


def summary_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image statistics a person (or a one-feature classifier) could tell the sources apart by."""
    from scipy import ndimage

    n, h, w = images.shape
    ink = images.astype(np.float64) / 255.0
    mass = ink.sum(axis=(1, 2)) + 1e-9
    inked = images > 0
    levels = np.array([len(np.unique(i)) for i in images])
    saturated = (images == 255).sum(axis=(1, 2)) / np.maximum(inked.sum(axis=(1, 2)), 1)
    rows, cols = inked.any(axis=2), inked.any(axis=1)
    def extent(mask):
        first = mask.argmax(axis=1)
        last = mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)
        return last - first + 1
    height, width = extent(rows), extent(cols)
    ys, xs = np.mgrid[:h, :w]
    cy = (ink * ys).sum(axis=(1, 2)) / mass
    cx = (ink * xs).sum(axis=(1, 2)) / mass
    dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
    slant = np.degrees(np.arctan(-(ink * dx * dy).sum(axis=(1, 2)) / ((ink * dy * dy).sum(axis=(1, 2)) + 1e-9)))
    binary = images > 127
    edges = (binary[:, 1:, :] != binary[:, :-1, :]).sum(axis=(1, 2)) + (binary[:, :, 1:] != binary[:, :, :-1]).sum(axis=(1, 2))
    pen = 2.0 * binary.sum(axis=(1, 2)) / np.maximum(edges, 1)  # area / half the perimeter
    holes = np.empty(n)
    for i, b in enumerate(binary):  # background components not touching the border
        labelled, count = ndimage.label(~b)
        border = np.unique(np.r_[labelled[0], labelled[-1], labelled[:, 0], labelled[:, -1]])
        holes[i] = count - len(border[border > 0])
    frame = inked[:, 0].any(axis=1) | inked[:, -1].any(axis=1) | inked[:, :, 0].any(axis=1) | inked[:, :, -1].any(axis=1)
    return {
        "grey levels": levels, "saturated share": saturated, "box longest side": np.maximum(height, width),
        "box width / height": width / height, "ink (full pixels)": mass, "holes": holes,
        "slant (deg)": slant, "pen width (px)": pen, "touches frame": frame.astype(float),
    }


def tell(a: np.ndarray, b: np.ndarray) -> float:
    """Best balanced accuracy of one threshold on one statistic (either direction); 0.5 = no tell."""
    values = np.r_[a, b]
    order = np.argsort(values, kind="stable")
    is_a = np.r_[np.ones(len(a)), np.zeros(len(b))][order]
    # threshold between distinct values only
    cut = np.r_[values[order][1:] != values[order][:-1], True]
    tpr = np.cumsum(is_a)[cut] / len(a)  # share of a at or below
    fpr = np.cumsum(1 - is_a)[cut] / len(b)
    balanced = 0.5 * (tpr + 1 - fpr)
    return float(max(balanced.max(), (1 - balanced).max(), 0.5))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """Discordant counts and the exact two-sided McNemar p-value."""
    from scipy.stats import binomtest

    only_a, only_b = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return only_a, only_b, float(p)


# --- the twin -------------------------------------------------------------------------------------------


def twin_style(folder: str, real: np.ndarray, real_labels: np.ndarray):
    """The twin recipe's style and class mix, through Datumaro's import as a user gets it (or, without
    Datumaro, from the images directly)."""
    try:
        from datumaro.components.dataset import Dataset

        from datumaro_mnist_plugins.synthetic.twin import twin_recipe

        recipe = twin_recipe(Dataset.import_from(folder, "mnist"))
        return recipe.style, np.asarray(recipe.proportions)[np.argsort(recipe.classes)]
    except Exception as error:  # noqa: BLE001 - report and go on without Datumaro
        print(f"note: twin through Datumaro failed ({error}); estimating from the images")
        from datumaro_mnist_plugins.synthetic.twin import estimate_style

        mix = np.bincount(real_labels, minlength=10) / len(real_labels)
        return estimate_style(list(real)), mix


def run_twin(args, folder, real, real_labels, default_pred) -> None:
    style, mix = twin_style(folder, real, real_labels)
    compare_twin("the real digits", args, style, mix, real, real_labels, default_pred)


def compare_twin(what: str, args, style, mix, real, real_labels, default_pred) -> None:
    """TSTR (SVC) of a twin recipe against the default's predictions, with McNemar's paired test."""
    print(f"twin of {what}: style {style}")
    print(f"twin class mix: {np.round(mix, 3).tolist()}")
    images, labels, _ = generate(args.train, args.seed, style, mix)
    fit = tstr(images, labels, real, real_labels, False, {"svc"})["svc"]
    acc, pred = fit.accuracy, fit.predicted
    a, b, p = mcnemar(pred == real_labels, default_pred == real_labels)
    by_half = lambda predicted: "/".join(f"{a:.2%}" for a in accuracy_by_half(predicted, real_labels)[1:])  # noqa: E731
    print(f"TSTR svc on {what}: twin {acc:.2%} ({by_half(pred)}) vs default {(default_pred == real_labels).mean():.2%} "
          f"({by_half(default_pred)}; first/second half); McNemar: {a} right only with the twin, {b} only with the "
          f"default, p = {p:.3g}")


def shifted_real(real: np.ndarray, seed: int) -> np.ndarray:
    """The real digits as another dataset might have them: shrunk to 70% about the centre, on a noisy
    background (a twin should see both; the default recipe knows neither)."""
    from PIL import Image

    size = real.shape[1]
    small = int(round(size * 0.7))
    at = (size - small) // 2
    out = np.zeros_like(real)
    for i, image in enumerate(real):
        out[i, at : at + small, at : at + small] = np.asarray(Image.fromarray(image).resize((small, small), Image.BOX))
    noisy = out + np.random.default_rng(seed).normal(0.0, 0.06 * 255, out.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def binarized_real(real: np.ndarray, seed: int) -> np.ndarray:
    """The real digits in binary ink: 255 above 127, else 0."""
    return np.where(real > 127, 255, 0).astype(np.uint8)


def dimmed_real(real: np.ndarray, seed: int) -> np.ndarray:
    """The real digits dimmed: every level times 0.55 (full pixels near 140)."""
    return np.floor(real * 0.55 + 0.5).astype(np.uint8)


def softened_real(real: np.ndarray, seed: int) -> np.ndarray:
    """The real digits softened: resampled to half size and back (bilinear), wide grey edges."""
    from PIL import Image

    size, half = real.shape[1], real.shape[1] // 2
    return np.stack([np.asarray(Image.fromarray(image).resize((half, half), Image.BILINEAR)
                                .resize((size, size), Image.BILINEAR)) for image in real])


#: Real digits made unlike MNIST, each a dataset whose twin should beat the default recipe.
CHANGED_REAL = {
    "the real digits shrunk to 70% on a noisy background": shifted_real,
    "the real digits binarized (> 127 -> 255, else 0)": binarized_real,
    "the real digits dimmed (x 0.55)": dimmed_real,
    "the real digits softened (half size and back, bilinear)": softened_real,
}


def run_changed_twins(args, images, labels, real, real_labels) -> None:
    """A twin of digits unlike MNIST's (smaller and noisy, binary, dim, soft) against the default
    recipe, on those digits."""
    from datumaro_mnist_plugins.synthetic.twin import estimate_style

    default_model = classifiers({"svc"})["svc"]().fit(flat(images), labels)
    mix = np.bincount(real_labels, minlength=10) / len(real_labels)
    for what, change in CHANGED_REAL.items():
        changed = change(real, args.seed)
        compare_twin(what, args, estimate_style(list(changed)), mix, changed, real_labels,
                     default_model.predict(flat(changed)))


# --- contact sheets and main ----------------------------------------------------------------------------


def write_sheet(path: str, images: np.ndarray, labels: np.ndarray, columns: int = 20) -> None:
    """One row per class of the first *columns* digits, at 2x."""
    from PIL import Image

    size = images.shape[1]
    sheet = np.zeros((10 * size, columns * size), dtype=np.uint8)
    for digit in range(10):
        chosen = images[labels == digit][:columns]
        for j, image in enumerate(chosen):
            sheet[digit * size : (digit + 1) * size, j * size : (j + 1) * size] = image
    Image.fromarray(sheet).resize((columns * size * 2, 10 * size * 2), Image.NEAREST).save(path)


def print_stats(synthetic: np.ndarray, real: np.ndarray) -> None:
    half = len(real) // 2
    syn, rea = summary_stats(synthetic[: len(real)]), summary_stats(real)
    print(f"{'statistic':<20}{'median syn':>12}{'median real':>12}{'tell':>8}{'real/real':>11}")
    for name in syn:
        ref = tell(rea[name][:half], rea[name][half:])
        print(f"{name:<20}{np.median(syn[name]):>12.3f}{np.median(rea[name]):>12.3f}"
              f"{tell(syn[name], rea[name]):>8.3f}{ref:>11.3f}")
    inked = synthetic[synthetic > 0]
    print(f"mean of means: touches frame syn {syn['touches frame'].mean():.3f} real {rea['touches frame'].mean():.3f}; "
          f"holes syn {syn['holes'].mean():.2f} real {rea['holes'].mean():.2f}; "
          f"share of ink at 255 syn {(inked == 255).mean():.3f} real {(real[real > 0] == 255).mean():.3f}")


def print_seed_spread(args, results: dict, real: np.ndarray, real_labels: np.ndarray, parts: set) -> None:
    """TSTR of each classifier on the digits of seeds ``seed .. seed + more_seeds``, and the mean: the figure
    of one seed is one draw of 30,000 digits, and another draw scores a few tenths apart."""
    per_seed = {name: [accuracy_by_half(result.predicted, real_labels)] for name, result in results.items()}
    seeds = [args.seed + k for k in range(args.more_seeds + 1)]
    for seed in seeds[1:]:
        images, labels, _ = generate(args.train, seed, DigitStyle())
        for name, result in tstr(images, labels, real, real_labels, False, parts & set(results)).items():
            per_seed[name].append(accuracy_by_half(result.predicted, real_labels))
    for name, rows in per_seed.items():
        mean = np.mean(rows, axis=0)
        print(f"TSTR {name} over seeds {seeds[0]}-{seeds[-1]}: mean {mean[0]:.2%} (first half {mean[1]:.2%}, "
              f"second half {mean[2]:.2%}); by seed " + " ".join(f"{row[0]:.2%}" for row in rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=30_000, help="synthetic training digits (default 30000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--more-seeds", type=int, default=0, metavar="K",
                        help="also train on the digits of seeds seed+1 .. seed+K and print each classifier's "
                             "TSTR per seed and the mean (one seed's digits move TSTR by a few tenths)")
    parser.add_argument("--data", default=DEFAULT_DATA, help=f"folder with {IMAGES} and {LABELS}")
    parser.add_argument("--only", default=",".join(p for p in PARTS if p != "twin"),
                        help=f"comma-separated parts among {','.join(PARTS)} (default: all but twin)")
    parser.add_argument("--no-reference", action="store_true", help="skip the real-vs-real reference figures")
    parser.add_argument("--sheet", help="folder to write synthetic.png and real.png contact sheets into")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--only: unknown parts {sorted(parts - set(PARTS))}; use {','.join(PARTS)}")
    try:
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        print("error: scikit-learn is needed for this benchmark (a benchmark-only dependency)", file=sys.stderr)
        return 2

    folder = args.data
    loaded = load_real(folder)
    if loaded is None and folder != SAMPLE_DATA:
        print(f"note: falling back to the 100 real digits in {SAMPLE_DATA}: the figures below are a smoke "
              "test, not a measure")
        folder, loaded = SAMPLE_DATA, load_real(SAMPLE_DATA)
    if loaded is None:
        print("error: no real digits to compare with", file=sys.stderr)
        return 2
    real, real_labels = loaded
    print(f"real: {len(real)} digits from {folder}")
    images, labels, rate = generate(args.train, args.seed, DigitStyle())
    print(f"synthetic: {args.train} digits, default style, seed {args.seed}: {rate:,.0f} digits/s on one core "
          f"({1e6 / rate:.0f} us a digit)")
    if args.sheet:
        os.makedirs(args.sheet, exist_ok=True)
        write_sheet(osp.join(args.sheet, "synthetic.png"), images, labels)
        write_sheet(osp.join(args.sheet, "real.png"), real, real_labels)
        print(f"sheets: {args.sheet}/synthetic.png, real.png")

    results = tstr(images, labels, real, real_labels, not args.no_reference, parts)
    half = len(real) // 2
    for name, fit in results.items():
        ref_text = f"; real {half} -> real {fit.reference:.2%}" if fit.reference is not None else ""
        _, first, second = accuracy_by_half(fit.predicted, real_labels)
        print(f"TSTR {name}: {fit.accuracy:.2%} (first half {first:.2%}, second half {second:.2%}: the class "
              f"shapes are fitted on the first){ref_text} ({fit.seconds:.0f} s)")
        print("  recall by class: " + " ".join(f"{d}:{r:.3f}" for d, r in enumerate(fit.recall)))
        if fit.reference_predicted is not None:
            print(domain_gap(fit, real_labels))
    if args.more_seeds > 0 and results:
        print_seed_spread(args, results, real, real_labels, parts)
    if "curve" in parts and results:
        print_real_worth(results, real, real_labels)
    if "two-sample" in parts:
        n = min(len(real), len(images)) // 2 * 2
        ref = two_sample(real[: len(real) // 2], real[len(real) // 2 :]) if not args.no_reference else math.nan
        print(f"two-sample accuracy (HGB, raw pixels, {n // 2}+{n // 2} / {n // 2}+{n // 2}): "
              f"{two_sample(images[:n], real[:n]):.3f}; real half vs real half: {ref:.3f}")
    if "stats" in parts:
        print_stats(images, real)
    if "twin" in parts:
        default_pred = results["svc"].predicted if "svc" in results else \
            tstr(images, labels, real, real_labels, False, {"svc"})["svc"].predicted
        run_twin(args, folder, real, real_labels, default_pred)
        run_changed_twins(args, images, labels, real, real_labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
