"""Helpers more than one test suite uses, written once."""
