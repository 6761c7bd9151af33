"""One job, one pipeline: load -> baseline -> quantize -> evaluate -> measure -> record.

The pipeline and what it calls: evaluation, latency/size/memory measurement, language-model
scoring and generation timing, the baseline cache, process isolation and CPU placement.
Imports the plug-ins (models, datasets, backends, targets) and core; never the report.
"""
