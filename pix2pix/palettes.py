"""Label-map colours: the CMP facade classes as the pix2pix facades dataset draws them.

A leaf module (it imports nothing of pix2pix), so the synthetic data, the pretrained registry
and the server share one table.

The facades label maps colour CMP class ``c`` (the database's label index, 1 = background ...
12 = shop) with row ``5c`` (0-based) of MATLAB's ``jet(64)`` colormap, i.e. the piecewise-linear
jet at ``x = (5c + 1) / 64``, scaled to 0..255 and rounded. This was measured, not assumed: on
the label halves (B) of the 400 ``facades/train`` pairs, each class's most frequent colour in
flat regions is within 1 unit of its entry here in every channel (the JPEG shifts the rest),
and the median distance from a label pixel to the nearest entry is 5.5 RGB units (37 for the
``jet(12)`` table used before, which came from a third-party script). Every sampling of 12
evenly spaced rows of ``jet(N)``, N from 12 to 256, that fits those colours within 2 units
gives exactly this table (rows ``10c + 1`` of ``jet(128)``, ``20c + 3`` of ``jet(256)``, ...).

The order (which colour is which class) follows the CMP label indices over jet, and agrees with
where the colours sit in the label maps: background and facade cover most of each image; door
and shop lie lowest (mean height 80% and 69% down the image); pillar and blind are the tallest
and narrowest regions (vertical runs 3.8 and 2.3 times their horizontal ones), molding and
cornice the widest and flattest (0.24 and 0.41).
"""

from __future__ import annotations

from typing import Any

#: The most classes a label-map palette may have.
MAX_CLASSES = 256

#: ``(name, (r, g, b))`` of the 12 CMP facade classes, in the database's label order (1..12).
CMP_FACADE_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("background", (0, 0, 223)),
    ("facade", (0, 48, 255)),
    ("window", (0, 128, 255)),
    ("door", (0, 207, 255)),
    ("cornice", (32, 255, 223)),
    ("sill", (112, 255, 143)),
    ("balcony", (191, 255, 64)),
    ("blind", (255, 239, 0)),
    ("deco", (255, 159, 0)),
    ("molding", (255, 80, 0)),
    ("pillar", (255, 0, 0)),
    ("shop", (175, 0, 0)),
)

#: The label classes of the standard datasets that have label maps, by dataset name.
DATASET_PALETTES = {"facades": CMP_FACADE_COLOURS}


def cmp_facade_palette() -> list[dict[str, Any]]:
    """The CMP facade classes as the ``inference["palette"]`` a label-map model records.

    Examples:
        >>> cmp_facade_palette()[0]
        {'name': 'background', 'color': [0, 0, 223]}
    """
    return [{"name": name, "color": list(colour)} for name, colour in CMP_FACADE_COLOURS]


def check_palette(palette: Any, source: str = "the palette") -> list[dict[str, Any]]:
    """``palette`` as the contract ``[{"name": str, "color": [r, g, b]}, ...]`` (the background
    class first), or one ``ValueError`` naming ``source`` and what is wrong.

    Examples:
        >>> check_palette([{"name": "sky", "color": [0, 0, 223]}])
        [{'name': 'sky', 'color': [0, 0, 223]}]
        >>> try:
        ...     check_palette([{"name": "sky", "color": [0, 0]}], "p.json")
        ... except ValueError as error:
        ...     print(error)  # doctest: +ELLIPSIS
        p.json: class 1's color is not three integers in 0..255; a palette is ...
    """
    problem = None
    if not isinstance(palette, list) or not 1 <= len(palette) <= MAX_CLASSES:
        problem = f"it is not a list of 1 to {MAX_CLASSES} classes"
    else:
        for i, entry in enumerate(palette, start=1):
            name = entry.get("name") if isinstance(entry, dict) else None
            color = entry.get("color") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                problem = f"class {i} has no name"
            elif not (
                isinstance(color, list)
                and len(color) == 3
                and all(isinstance(c, int) and not isinstance(c, bool) for c in color)
                and all(0 <= c <= 255 for c in color)
            ):
                problem = f"class {i}'s color is not three integers in 0..255"
            if problem:
                break
    if problem:
        raise ValueError(
            f'{source}: {problem}; a palette is [{{"name": ..., "color": [r, g, b]}}, ...] of '
            f"1 to {MAX_CLASSES} classes."
        )
    return [{"name": e["name"], "color": [int(c) for c in e["color"]]} for e in palette]
