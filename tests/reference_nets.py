"""Re-exports the reference re-implementation kept in ``benchmarks/reference.py``."""

from reference import (  # noqa: F401
    RefGANLoss,
    RefNLayerD,
    RefPix2Pix,
    RefPixelD,
    RefResnet,
    RefUnet,
    build_reference,
    randomize,
    reference_init,
)
