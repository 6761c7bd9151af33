"""Declarative quantization sweeps: model x precision x method x target on your own data."""

__version__ = "0.1.0"
