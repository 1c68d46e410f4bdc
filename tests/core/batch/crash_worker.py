"""A batch runner process for the crash test: `python -m tests.core.batch.crash_worker IN OUT`.

Starts a batch of IN into OUT (or resumes the one already writing into OUT) and runs it
with a tiny model; the test kills it with SIGKILL at unpredictable moments.
"""

from __future__ import annotations

import sys

import torch

from core.batch import BatchQueue, BatchRunner, batch_settings, enqueue


def main(src: str, out: str) -> int:
    torch.set_num_threads(1)
    from tests.core.batch.helpers import tiny_enhancer  # noqa: PLC0415

    queue = BatchQueue()
    batch = queue.latest_batch(out)
    if batch is None:
        batch_id, _ = enqueue(queue, [src], out, batch_settings("fast", "png"))
    else:
        batch_id = batch.id
    print(f"batch {batch_id}", flush=True)
    BatchRunner(queue, batch_id, tiny_enhancer(working_size=256)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
