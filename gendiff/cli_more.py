"""Sub-commands beyond ``derive`` (registered by :mod:`gendiff.cli`)."""


def register(sub) -> None:
    pass
