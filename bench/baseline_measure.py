"""What the baseline scripts share: best-of-n timing and the peak resident
memory of a case, measured as bench/measure.h measures fovea's (the kernel's
high-water mark VmHWM, reset through /proc/self/clear_refs before the case,
after the allocator has given the free memory it keeps back)."""
import ctypes
import re
import sys
import time

_libc = ctypes.CDLL("libc.so.6")
_process = ctypes.CDLL(None)


def release_free_memory():
    """tcmalloc's ReleaseFreeMemory when tcmalloc is preloaded (the tuned
    runs), else glibc's malloc_trim, as fovea's nn::release_free_memory."""
    try:
        _process.MallocExtension_ReleaseFreeMemory()
    except AttributeError:
        _libc.malloc_trim(0)


def reset_peak_memory():
    release_free_memory()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_memory_mb():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024.0


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(out, key, fn, repeats):
    """Stores the best-of-n seconds under `key` and the peak MB under `key`_mb."""
    reset_peak_memory()
    out[key] = best_of(fn, repeats)
    out[key + "_mb"] = peak_memory_mb()


def channels_last_requested():
    """True when the benchmark asked for the tuned run (--channels-last, the
    last argument); removes the flag so the positional arguments stay as they are."""
    if "--channels-last" in sys.argv:
        sys.argv.remove("--channels-last")
        return True
    return False
