"""Deprecated: moved to :mod:`pix2pix.inference.translator`.

Importing names from here still works, with a DeprecationWarning.
"""

from pix2pix._deprecation import moved_names

__getattr__ = moved_names("pix2pix.translator", {"*": "pix2pix.inference.translator"})
