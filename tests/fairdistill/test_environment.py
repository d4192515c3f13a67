import os
import platform
import threading
from pathlib import Path

import numpy as np
import pytest

from fairdistill.environment import release_free_memory


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_memory_freed_by_a_thread_goes_back_to_the_os():
    """Small blocks freed in a worker thread stay in glibc's arena (RSS does not fall) until they
    are released."""

    def allocate_and_free():
        blocks = [np.ones(1_000) for _ in range(50_000)]  # 8 kB each: from the heap, not mmap
        del blocks

    worker = threading.Thread(target=allocate_and_free)
    worker.start()
    worker.join()
    before = resident_bytes()
    release_free_memory()
    assert before - resident_bytes() > 200 * 2**20
