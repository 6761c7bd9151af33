"""From records to decisions: reading sweep records, verdicts, Pareto fronts, plots, the
summary, compare, and the tracker. Reads result records only; never runs a model.
"""
