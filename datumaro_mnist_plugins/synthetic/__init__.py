"""Generated MNIST-like digits, by job (numpy and Pillow; only the modules marked * import Datumaro).

    recipe.py *     Recipe, SubsetSpec: reading, checking and writing a recipe file
    limits.py       what a recipe's text may cost (file size, YAML aliases, values, ranges)
    index_runs.py   IndexRuns: a subset's kept items as runs (a million kept items, a few bytes)
    allographs.py   the hand-designed pen strokes of each digit (data)
    style.py        DigitStyle (the drawing knobs, checked) and item_rng (an item's random stream)
    strokes.py      the renderer's pen paths: allographs compiled to splines, a writer's style applied
    spring.py       a pen with mass: the damped spring's filter of a stroke's path, as one matrix
    tips.py         pen ends that narrow where the pen lifts: each stroke end's tapered outline
    raster.py       the renderer's pixels: elastic wobble, binary scan, MNIST's size normalization
    parallel.py     drawing on every core in ordered blocks, byte-identical whatever the worker count
    digits.py *     SyntheticDigits: the labels, kept indices and lazy images of a recipe's items
    twin.py *       the exact recipe of generated items, or a twin (style estimated) of any digit dataset
    image_stats.py  what a twin measures in digit images (pen, slant, box, noise, edge width, peak ink)

The Datumaro format itself (importer, extractor, exporter, generator) is :mod:`..mnist_synthetic`.
"""
