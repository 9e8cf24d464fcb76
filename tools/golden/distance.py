import torch
from common import case, write

torch.manual_seed(7)
cases = []


def knn(queries, bank, k):
    """torch.cdist(...) ** 2 + topk(k, largest=False), returned as [Q, 2k]: distances, then indices."""
    dist = torch.cdist(queries, bank) ** 2
    values, indices = dist.topk(k, dim=1, largest=False)
    return torch.cat([values, indices.to(values.dtype)], dim=1)


# The last cases split the bank into slices and merge them.
for q, m, d, k in [(7, 50, 13, 1), (7, 50, 13, 2), (5, 33, 4, 5), (3, 9, 3, 9), (6, 20, 1, 3), (4, 30, 150, 2),
                   (1, 600, 8, 16), (3, 1100, 4, 7)]:
    queries = torch.randn(q, d)
    bank = torch.randn(m, d)
    if q > 1:
        queries[1] = bank[m // 2]  # an exact match: distance 0
    cases.append(case('knn Q%d M%d D%d k%d' % (q, m, d, k), 'knn', {'k': k}, {'queries': queries, 'bank': bank},
                      lambda queries, bank, k=k: knn(queries, bank, k)))
write('distance', cases)
