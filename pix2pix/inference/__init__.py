"""Inference: the :class:`Translator`, image <-> tensor conversion and tiling for large inputs."""

from pix2pix.inference.translator import Translator

__all__ = ["Translator"]
