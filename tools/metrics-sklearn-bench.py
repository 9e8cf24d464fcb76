#!/usr/bin/python3
"""Times scikit-learn's roc_auc_score for bench/metrics.ts on the very arrays the bench measures texad on.

usage: /usr/bin/python3 tools/metrics-sklearn-bench.py REPEATS SCORES.npy LABELS.npy [SCORES.npy LABELS.npy ...]
Prints one JSON line: [{"n", "seconds" (fastest), "median", "cpuMedian", "auroc", "sklearn"}, ...], wall-clock
seconds and process CPU seconds (robust on a shared machine). Exits 3 when scikit-learn is missing.
"""
import json
import statistics
import sys
import time

try:
    import numpy as np
    import sklearn
    from sklearn.metrics import roc_auc_score
except ImportError as err:  # the bench reports the peer as skipped
    print(f'scikit-learn unavailable: {err}', file=sys.stderr)
    sys.exit(3)


def main():
    repeats = int(sys.argv[1])
    pairs = sys.argv[2:]
    out = []
    for i in range(0, len(pairs), 2):
        scores = np.load(pairs[i])
        labels = np.load(pairs[i + 1])
        times = []
        cpu = []
        value = None
        # One run only for the largest arrays: a single roc_auc_score there takes many seconds.
        for _ in range(repeats if scores.size <= 10**7 else 1):
            t = time.perf_counter()
            c = time.process_time()
            value = roc_auc_score(labels, scores)
            cpu.append(time.process_time() - c)
            times.append(time.perf_counter() - t)
        out.append({'n': int(scores.size), 'seconds': min(times), 'median': statistics.median(times),
                    'cpuMedian': statistics.median(cpu), 'auroc': float(value), 'sklearn': sklearn.__version__})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
