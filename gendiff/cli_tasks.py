"""Report, audit and experiment sub-commands (registered by :mod:`gendiff.cli_more`)."""


def register(sub) -> None:
    pass
