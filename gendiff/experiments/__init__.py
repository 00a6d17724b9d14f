"""Experiment harness: data sets, denoisers, training, metrics, oracles, the runner and report writers.

Layer: experiments — may import gendiff core (and derivations, for the report); never gendiff.cli.
"""
