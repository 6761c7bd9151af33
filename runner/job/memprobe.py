"""Child process for measure.peak_rss: load a model, run it, print the peak RSS as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def peak_rss_bytes() -> int:
    """VmHWM of this process. Not ru_maxrss: Linux carries that over from the forking parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> None:
    """argv: MODEL SAMPLE.npz PROVIDER THREADS."""
    import onnxruntime as ort

    model, sample, provider, threads = argv
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model, so, providers=[provider])
    from runner.core import batches
    from runner.core.lm_graph import is_kv_graph
    from runner.job.lm import greedy

    x = batches.load(sample)
    if is_kv_graph(sess):  # a language model: prefill the prompt, then decode a few tokens
        greedy(sess, x["input_ids"], 8)
    else:
        feed = batches.feed(sess, x)
        for _ in range(5):
            sess.run(None, feed)
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))


if __name__ == "__main__":
    main(sys.argv[1:])
