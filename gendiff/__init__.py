"""gendiff: the generalized diffusion model with adjusted offset noise (arXiv 2412.03134)."""
__version__ = "0.1.0"
