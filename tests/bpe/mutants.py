"""Mutants of solutions/bpe.py, one or more per known mistake, correct alternatives, and do-nothing
implementations.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, pass on every alternative, and fail every test on every
trivial implementation. This file quotes the reference, so like `test_hidden.py` it stays with the
project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

MERGE_BODY = (
    "    out = []\n    i = 0\n    while i < len(ids):\n"
    "        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:\n"
    "            out.append(new_id)\n            i += 2\n        else:\n"
    "            out.append(ids[i])\n            i += 1\n    return out\n"
)
BEST = "best = min(counts, key=lambda p: (-counts[p], p))"
TRAIN_LOOP = "    for new_id in range(256, vocab_size):\n        counts: dict"
FAST_SELECT = (
    "        while heap and -heap[0][0] != counts.get(heap[0][1], 0):\n"
    "            heapq.heappop(heap)  # stale: the pair's count changed since this entry was pushed\n"
    "        if not heap:\n"
    "            break\n"
    "        best = heapq.heappop(heap)[1]\n"
)
SPECIAL_SCAN = (
    "        pieces, start = [], 0\n"
    "        for found in finder.finditer(text):\n"
    "            pieces.append((text[start:found.start()], None))\n"
    "            pieces.append((found.group(), special_tokens[found.group()]))\n"
    "            start = found.end()\n"
    "        pieces.append((text[start:], None))\n"
)
ENCODE_LOOP = (
    "            while len(ids) >= 2:\n"
    "                present = [p for p in get_stats(ids) if p in merges]\n"
    "                if not present:\n"
    "                    break\n"
    "                first = min(present, key=lambda p: merges[p])\n"
    "                ids = merge(ids, first, merges[first])\n"
)

MUTANTS = [
    Mutant(
        "overlapping-merge",
        {
            MERGE_BODY: "    out = []\n    for i in range(len(ids)):\n"
            "        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):\n"
            "            out.append(new_id)  # at every start of the pair, overlapping ones too\n"
            "        elif i == 0 or (ids[i - 1], ids[i]) != tuple(pair):\n"
            "            out.append(ids[i])  # ids that end a pair are dropped\n"
            "    return out\n"
        },
    ),
    Mutant(
        "merge-drops-last",
        {"    while i < len(ids):\n        if i + 1": "    while i < len(ids) - 1:\n        if i + 1"},
    ),
    Mutant(
        "merge-in-place", {"            i += 1\n    return out": "            i += 1\n    ids[:] = out\n    return ids"}
    ),
    Mutant(
        "counts-without-repeats",
        {"counts[pair] = counts.get(pair, 0) + 1": "counts[pair] = 1"},
        id="get-stats-deduplicated",
    ),
    Mutant(
        "counts-without-repeats",
        {"weight_of[chunk] = weight_of.get(chunk, 0) + 1": "weight_of[chunk] = 1"},
        id="train-fast-chunks-unweighted",
    ),
    Mutant("ties-by-dict-order", {BEST: "best = max(counts, key=counts.get)"}),
    Mutant(
        "ties-by-dict-order",
        {FAST_SELECT: "        if not counts:\n            break\n        best = max(counts, key=counts.get)\n"},
        id="train-fast-ties-by-dict-order",
    ),
    Mutant(
        "wrong-number-of-merges",
        {TRAIN_LOOP: TRAIN_LOOP.replace("vocab_size", "vocab_size + 1")},
        id="one-merge-too-many",
    ),
    Mutant(
        "wrong-number-of-merges",
        {TRAIN_LOOP: TRAIN_LOOP.replace("vocab_size", "vocab_size - 1")},
        id="one-merge-too-few",
    ),
    Mutant("no-early-stop", {"        if not counts:\n            break\n        best = min": "        best = min"}),
    Mutant(
        "encode-by-frequency",
        {
            "                first = min(present, key=lambda p: merges[p])": "                stats = get_stats(ids)\n"
            "                first = max(present, key=lambda p: stats[p])"
        },
    ),
    Mutant(
        "encode-raw-bytes-only",
        {"if p in merges]": "if p in merges and max(p) < 256]"},
    ),
    Mutant("decode-strict", {'decode("utf-8", errors="replace")': 'decode("utf-8", errors="strict")'}),
    Mutant(
        "unknown-id-error",
        {"if i not in vocab:": "if False:"},
        id="unknown-id-key-error",
    ),
    Mutant(
        "merges-cross-chunks",
        {'[list(chunk.encode("utf-8")) for chunk in chunks]': '[list("".join(chunks).encode("utf-8"))]'},
        id="train-ignores-chunks",
    ),
    Mutant(
        "merges-cross-chunks",
        {"regex.findall(pattern, text) if pattern is not None else [text]\n    weight_of": "[text]\n    weight_of"},
        id="train-fast-ignores-pattern",
    ),
    Mutant(
        "merges-cross-chunks",
        {"regex.findall(pattern, piece) if pattern is not None else [piece]": "[piece]"},
        id="encode-ignores-pattern",
    ),
    Mutant(
        "special-split-by-pattern",
        {
            SPECIAL_SCAN: "        pieces = []\n"
            "        for part in (regex.findall(pattern, text) if pattern is not None else [text]):\n"
            "            start = 0\n"
            "            for found in finder.finditer(part):\n"
            "                pieces.append((part[start:found.start()], None))\n"
            "                pieces.append((found.group(), special_tokens[found.group()]))\n"
            "                start = found.end()\n"
            "            pieces.append((part[start:], None))\n"
        },
    ),
    Mutant(
        "special-not-longest",
        {"longest_first = sorted(special_tokens, key=len, reverse=True)": "longest_first = list(special_tokens)"},
        id="special-in-dict-order",
    ),
]

ALTERNATIVES = [
    Alternative(
        "counter-and-flag-loop",
        "get_stats with collections.Counter; merge with a for loop and a skip flag",
        {
            "    counts: dict[tuple[int, int], int] = {}\n    for pair in zip(ids, ids[1:]):\n"
            "        counts[pair] = counts.get(pair, 0) + 1\n    return counts\n": "    import collections\n"
            "    return dict(collections.Counter(zip(ids, ids[1:])))\n",
            MERGE_BODY: "    out, skip = [], False\n    for k, token in enumerate(ids):\n        if skip:\n"
            "            skip = False\n            continue\n"
            "        if k + 1 < len(ids) and (token, ids[k + 1]) == tuple(pair):\n"
            "            out.append(new_id)\n            skip = True\n        else:\n"
            "            out.append(token)\n    return out\n",
        },
    ),
    Alternative(
        "max-with-negated-ids",
        "train picks max over (count, -id1, -id2) and counts in one flat loop without get_stats",
        {
            "for pair, count in get_stats(ids).items():\n                counts[pair] = counts.get(pair, 0) + count": (
                "for pair in zip(ids, ids[1:]):\n                counts[pair] = counts.get(pair, 0) + 1"
            ),
            BEST: "best = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))",
        },
    ),
    Alternative(
        "encode-each-merge-once-in-order",
        "encode applies every merge once, in creation order, to each distinct chunk (cached)",
        {
            "    out: list[int] = []\n    for piece, special_id in pieces:": "    out: list[int] = []\n"
            "    done: dict[str, list[int]] = {}\n    for piece, special_id in pieces:",
            ENCODE_LOOP: "            if chunk in done:\n"
            "                out.extend(done[chunk])\n                continue\n"
            "            key = chunk\n"
            "            for pair, new_id in sorted(merges.items(), key=lambda item: item[1]):\n"
            "                if len(ids) < 2:\n                    break\n"
            "                if pair[0] in ids:\n                    ids = merge(ids, pair, new_id)\n"
            "            done[key] = ids\n",
        },
    ),
    Alternative(
        "special-manual-scan",
        "special tokens found by scanning every position for the longest token starting there",
        {
            SPECIAL_SCAN: "        pieces, start, k = [], 0, 0\n"
            "        while k < len(text):\n"
            "            hits = [s for s in longest_first if text.startswith(s, k)]\n"
            "            if hits:\n"
            "                pieces.append((text[start:k], None))\n"
            "                pieces.append((hits[0], special_tokens[hits[0]]))\n"
            "                k = start = k + len(hits[0])\n"
            "            else:\n"
            "                k += 1\n"
            "        pieces.append((text[start:], None))\n"
        },
    ),
    Alternative(
        "decode-bytearray-lookup",
        "decode resolves merged ids recursively into a bytearray, errors='replace'",
        {
            "    vocab = {i: bytes([i]) for i in range(256)}\n"
            "    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):\n"
            "        vocab[new_id] = vocab[a] + vocab[b]\n": "    parts_of = {new_id: pair for pair, new_id in "
            "merges.items()}\n"
            "    vocab = {i: bytes([i]) for i in range(256)}\n\n"
            "    def expand(t):\n"
            "        if t not in vocab and t in parts_of:\n"
            "            vocab[t] = expand(parts_of[t][0]) + expand(parts_of[t][1])\n"
            "        return vocab[t]\n\n"
            "    for new_id in parts_of:\n        expand(new_id)\n",
            "    parts = []\n": "    parts = bytearray()\n",
            '        parts.append(vocab[i])\n    return b"".join(parts).decode("utf-8", errors="replace")': (
                '        parts.extend(vocab[i])\n    return bytes(parts).decode("utf-8", "replace")'
            ),
        },
    ),
    Alternative(
        "train-fast-scan-without-heap",
        "train_fast keeps incremental counts but scans them for the best pair each round",
        {FAST_SELECT: f"        if not counts:\n            break\n        {BEST}\n"},
    ),
    Alternative(
        "train-via-train-fast",
        "train simply calls train_fast (the result is the same)",
        {"    chunk_ids = [list(": "    return train_fast(text, vocab_size, pattern)\n    chunk_ids = [list("},
    ),
]

_EMPTY = ("return {}", "return []", "return {}", "return []", 'return ""', "return {}")
_IDENTITY = (
    "return {}",
    "return list(ids)",
    "return {}",
    'return list(text.encode("utf-8"))',
    'return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")',
    "return {}",
)

TRIVIAL = [
    Trivial("empty", "every function returns an empty dict, list or string", _EMPTY),
    Trivial(
        "bytes-only",
        "no merges at all: encode gives the UTF-8 bytes, decode decodes the bytes, merge returns a copy",
        _IDENTITY,
    ),
]
