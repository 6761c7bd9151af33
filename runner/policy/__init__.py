"""The decision framework as commands: decide (INT8, QAT, mixed precision, INT4 in turn) and
per-layer sensitivity. Runs jobs through runner.job and judges them with runner.report.
"""
