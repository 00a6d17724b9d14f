"""gendiff: the generalized diffusion model with adjusted offset noise (arXiv 2412.03134).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
__version__ = "0.1.0"
