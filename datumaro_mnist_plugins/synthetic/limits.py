"""Bounds on what a recipe may make us allocate: its file, its YAML, and every number it writes.

A recipe is a few lines of text, so nothing in one may cost much. Refused before they are built: a
file over ``MAX_RECIPE_BYTES`` (JSON: ``MAX_JSON_BYTES``), a YAML alias (a few hundred bytes of
``&a [*b, *b, ...]`` expand to billions of values), more than ``MAX_YAML_VALUES`` values, nesting deeper
than ``MAX_YAML_DEPTH``. The numbers that size lists (``count`` of a filtered subset) are checked
before anything is built; ``indices`` ranges are never expanded (:mod:`.index_runs`). Errors name the
file and the key, and print values shortened (:func:`brief`).
"""

from __future__ import annotations

import json
import math
import reprlib
from typing import Any, Iterable, List, Sequence

from ..checks import is_real

#: Larger than any recipe we write (a filtered subset of MAX_FILTERED_COUNT items as ranges included).
MAX_RECIPE_BYTES = 8 << 20
#: JSON recipes are written by hand, and json.loads can't be stopped early: 1 MB of ``[],`` is 21 MB of lists.
MAX_JSON_BYTES = 1 << 20
#: Scalars, lists and mappings in one YAML recipe: a recipe has dozens; long index lists are ranges.
MAX_YAML_VALUES = 10_000
MAX_YAML_DEPTH = 64
#: A filtered subset (``keep_classes``, ``indices``) lists its items: at most this many.
MAX_FILTERED_COUNT = 10**6

_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 80
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = 10
_BRIEF.maxlevel = 3


def brief(value: Any) -> str:
    """A value for an error message, shortened: a recipe's value can be huge (or deeply nested)."""
    return _BRIEF.repr(value)


class RecipeTooCostly(ValueError):
    """The recipe text asks for more than a recipe may (see the module's bounds)."""


def _check_events(events: Iterable) -> None:
    """Refuse aliases, too many values and deep nesting while parsing, before anything is built."""
    import yaml

    values = depth = 0
    for event in events:
        where = f"line {event.start_mark.line + 1}" if event.start_mark else "YAML"
        if isinstance(event, yaml.AliasEvent):
            raise RecipeTooCostly(f"{where}: YAML aliases (*{event.anchor}) are not allowed in a recipe")
        if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            values += 1
            if values > MAX_YAML_VALUES:
                raise RecipeTooCostly(f"{where}: more than {MAX_YAML_VALUES} values (write index lists as ranges)")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise RecipeTooCostly(f"{where}: nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def parse_recipe_text(raw: bytes, is_json: bool) -> Any:
    """The data of a recipe file's bytes; RecipeTooCostly, ValueError or yaml.YAMLError if it is no recipe."""
    limit = MAX_JSON_BYTES if is_json else MAX_RECIPE_BYTES
    if len(raw) > limit:
        raise RecipeTooCostly(f"{len(raw)} bytes or more; a {'JSON' if is_json else 'YAML'} recipe is at most {limit} bytes")
    text = raw.decode("utf-8-sig")
    if is_json:
        return json.loads(text)
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 100x faster
    _check_events(yaml.parse(text, Loader=loader))  # the events first: a bomb is never built
    return yaml.load(text, Loader=loader)


def unknown_keys(mapping: Iterable, known: Sequence[str]) -> List:
    """Keys of *mapping* not in *known*, in a stable order whatever their types (YAML keys can be anything)."""
    return sorted((key for key in mapping if key not in known), key=repr)


def valid_proportions(values: Any, count: int) -> bool:
    """*count* finite non-negative numbers, not all zero, whose sum is finite (1e308 twice is not)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != count:
        return False
    if not all(map(is_real, values)):
        return False
    floats = [float(p) if abs(p) < 1e308 else math.inf for p in values]
    total = math.fsum(floats) if all(map(math.isfinite, floats)) else math.inf
    return all(p >= 0 for p in floats) and 0 < total < math.inf
