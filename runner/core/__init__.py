"""The floor every other package stands on: typed config, registry, composition, the result
record, statistics, and the file formats the plug-ins share (ONNX, batches, KV-cache graphs).

Imports nothing else of runner's; everything else may import it.
"""
