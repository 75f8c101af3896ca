"""``pix2pix translate``: placeholder replaced below."""
