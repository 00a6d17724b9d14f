"""Adapters that let other libraries use gendiff's core (optional extras).

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
