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
