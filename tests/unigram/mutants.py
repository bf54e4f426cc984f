"""Mutants of solutions/unigram.py, one or more per known mistake, correct alternatives, and do-nothing
implementations.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, pass on every alternative, and fail every test on every
trivial implementation. This file quotes the reference, so like `test_hidden.py` it stays with the
project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

COLLAPSE = 'collapsed = re.sub(" +", SPACE, text.lstrip(" "))'
NORMALIZE_RETURN = "return (SPACE + collapsed).rstrip(SPACE)"
VITERBI_LOOP = (
    "    for j in range(1, n + 1):\n"
    "        for i in range(max(0, j - longest), j):  # longest last piece first: it wins ties\n"
    "            score = pieces.get(text[i:j])\n"
    "            if score is None and i == j - 1:\n"
    "                score = unk_score  # a character that is not a piece: an unknown node\n"
    "            if score is not None and best[i] + score > best[j]:\n"
    "                best[j], start_of[j] = best[i] + score, i\n"
)
VITERBI_BACK = (
    "    out, j = [], n\n"
    "    while j > 0:\n"
    "        out.append(text[start_of[j] : j])\n"
    "        j = start_of[j]\n"
    "    return out[::-1]\n"
)
LOGSUMEXP = "        top = max(values)\n        return top + math.log(sum(math.exp(v - top) for v in values))\n"
POSTERIOR = "math.exp(alpha[i] + score + beta[j] - log_likelihood)"
BETA = "        beta[i] = logsumexp([score + beta[j] for j, score in starting[i]])\n"
EM_TOTAL = "    total = sum(counts.values())\n"
EM_KEEP = (
    "    for piece, score in pieces.items():\n"
    "        if len(piece) == 1 and piece not in new:\n"
    "            new[piece] = score\n"
)
RANKED = "    ranked = sorted(others, key=lambda x: (-loss[x], -pieces[x], x))\n"
KEPT = "    kept = chars + ranked[: max(0, size - len(chars))]\n"
NORM = (
    "    top = max(pieces[p] for p in kept)\n    norm = top + math.log(sum(math.exp(pieces[p] - top) for p in kept))\n"
)

MUTANTS = [
    Mutant("spaces-not-collapsed", {COLLAPSE: 'collapsed = text.lstrip(" ").replace(" ", SPACE)'}),
    Mutant("no-dummy-prefix", {NORMALIZE_RETURN: "return collapsed.rstrip(SPACE)"}),
    Mutant("trailing-space-kept", {NORMALIZE_RETURN: 'return SPACE + collapsed if collapsed else ""'}),
    Mutant(
        "every-whitespace-is-space",
        {COLLAPSE: "collapsed = SPACE.join(text.split())"},
    ),
    Mutant(
        "greedy-longest-match",
        {
            VITERBI_LOOP + VITERBI_BACK: "    out, i = [], 0\n"
            "    while i < n:\n"
            "        j = next((j for j in range(min(n, i + longest), i + 1, -1) if text[i:j] in pieces), i + 1)\n"
            "        out.append(text[i:j])\n"
            "        i = j\n"
            "    return out\n"
        },
    ),
    Mutant("ties-to-shorter-piece", {"best[i] + score > best[j]:": "best[i] + score >= best[j]:"}),
    Mutant("unknown-dropped", {"    return out[::-1]\n": "    return [p for p in out[::-1] if p in pieces]\n"}),
    Mutant(
        "unknown-scored-zero",
        {"unk_score = min(pieces.values()) - unk_penalty": "unk_score = 0.0"},
        id="viterbi-unknown-scored-zero",
    ),
    Mutant(
        "unknown-scored-zero",
        {
            "unk_score = min(pieces.values()) - UNK_PENALTY\n    longest = max(len(p) for p in pieces)\n"
            "    n = len(text)\n    nodes": "unk_score = 0.0\n    longest = max(len(p) for p in pieces)\n"
            "    n = len(text)\n    nodes"
        },
        id="forward-backward-unknown-scored-zero",
    ),  # fmt: skip
    Mutant(
        "linear-space",
        {
            LOGSUMEXP: "        total = sum(math.exp(v) for v in values)  # probabilities, not logs\n"
            "        return math.log(total) if total > 0 else -math.inf\n"
        },
        id="linear-space-underflow-to-inf",
    ),  # fmt: skip
    Mutant(
        "linear-space",
        {LOGSUMEXP: "        return math.log(sum(math.exp(v) for v in values))\n"},
        id="linear-space-log-of-zero",
    ),
    Mutant("backward-misaligned", {POSTERIOR: "math.exp(alpha[i] + score + beta[j - 1] - log_likelihood)"}),
    Mutant(
        "backward-misaligned",
        {BETA: "        beta[i] = logsumexp([score + beta[min(j + 1, n)] for j, score in starting[i]])\n"},
        id="beta-shifted",
    ),
    Mutant("unknown-counted", {"nodes[j].append((i, None, unk_score))": "nodes[j].append((i, piece, unk_score))"}),
    Mutant("counts-not-weighted", {"counts.get(piece, 0.0) + count * expected": "counts.get(piece, 0.0) + expected"}),
    Mutant(
        "em-normalised-over-characters",
        {EM_TOTAL: "    total = sum(c for p, c in counts.items() if len(p) == 1)\n"},
    ),
    Mutant("em-keeps-unused", {"        if len(piece) == 1 and piece not in new:": "        if piece not in new:"}),
    Mutant("em-keeps-underflowed", {"if c >= NEGLIGIBLE}": "if c > 0}"}),
    Mutant("em-drops-characters", {EM_KEEP: ""}),
    Mutant(
        "prune-drops-characters",
        {KEPT: "    kept = sorted(pieces, key=lambda x: (-loss.get(x, 0.0), -pieces[x], x))[:size]\n"},
    ),
    Mutant("prune-by-frequency", {"loss[x] = used[x] * (pieces[x] - alternative)": "loss[x] = used[x]"}),
    Mutant(
        "prune-keeps-smallest-loss",
        {RANKED: "    ranked = sorted(others, key=lambda x: (-loss[x], -pieces[x], x))[::-1]\n"},
    ),
    Mutant(
        "prune-not-renormalised", {"return {p: pieces[p] - norm for p in kept}": "return {p: pieces[p] for p in kept}"}
    ),
    Mutant(
        "train-wrong-size",
        {"max(vocab_size, int(shrink * len(pieces)))": "int(shrink * len(pieces))"},
        id="train-prunes-below-vocab-size",
    ),
]

ALTERNATIVES = [
    Alternative(
        "normalize-state-machine",
        "normalize walks the characters as SentencePiece's normaliser does: skip leading spaces, emit "
        "'▁' for the first space of a run, then drop every trailing '▁'",
        {
            COLLAPSE + "\n    " + NORMALIZE_RETURN: "out, previous_space = [SPACE], True\n"
            "    for c in text:\n"
            '        if c == " ":\n'
            "            if not previous_space:\n"
            "                out.append(SPACE)\n"
            "            previous_space = True\n"
            "        else:\n"
            "            out.append(c)\n"
            "            previous_space = False\n"
            "    while out and out[-1] == SPACE:\n"
            "        out.pop()\n"
            '    return "".join(out)'
        },
    ),
    Alternative(
        "viterbi-shortest-first-with-ge",
        "viterbi tries the shortest piece first and updates on >=, so the longest piece still wins ties; "
        "it keeps the best piece itself instead of its start",
        {
            VITERBI_LOOP + VITERBI_BACK: "    last = [''] * (n + 1)\n"
            "    for j in range(1, n + 1):\n"
            "        for i in range(j - 1, max(0, j - longest) - 1, -1):\n"
            "            piece = text[i:j]\n"
            "            score = pieces[piece] if piece in pieces else unk_score if i == j - 1 else None\n"
            "            if score is not None and best[i] + score >= best[j]:\n"
            "                best[j], last[j] = best[i] + score, piece\n"
            "    out = []\n"
            "    while n > 0:\n"
            "        out.insert(0, last[n])\n"
            "        n -= len(last[n])\n"
            "    return out\n"
        },
    ),
    Alternative(
        "pairwise-logsumexp",
        "forward_backward combines paths two at a time with log1p (another rounding order)",
        {
            LOGSUMEXP: "        total = values[0]\n"
            "        for v in values[1:]:\n"
            "            total = max(total, v) + math.log1p(math.exp(-abs(total - v)))\n"
            "        return total\n"
        },
    ),
    Alternative(
        "backward-on-reversed-text",
        "forward_backward gets beta by running the forward pass on the reversed text with reversed pieces",
        {
            "    starting: list[list[tuple[int, float]]] = [[] for _ in range(n + 1)]\n"
            "    for j in range(1, n + 1):\n"
            "        for i, _, score in nodes[j]:\n"
            "            starting[i].append((j, score))\n"
            "    beta = [0.0] * (n + 1)\n"
            "    for i in range(n - 1, -1, -1):\n" + BETA: "    reverse = [0.0] * (n + 1)  # reverse[k]: paths over "
            "the last k characters\n"
            "    for k in range(1, n + 1):\n"
            "        options = []\n"
            "        for length in range(1, min(k, longest) + 1):\n"
            "            piece = text[n - k : n - k + length]\n"
            "            if piece in pieces:\n"
            "                options.append(pieces[piece] + reverse[k - length])\n"
            "            elif length == 1:\n"
            "                options.append(unk_score + reverse[k - 1])\n"
            "        reverse[k] = logsumexp(options)\n"
            "    beta = reverse[::-1]\n"
        },
    ),
    Alternative(
        "em-log-of-ratio-with-counter",
        "em_step sums with collections.Counter and takes log(c) - log(total)",
        {
            "    counts: dict[str, float] = {}\n"
            "    for word, count in corpus.items():\n"
            "        for piece, expected in forward_backward(word, pieces)[1].items():\n"
            "            counts[piece] = counts.get(piece, 0.0) + count * expected\n": "    import collections\n\n"
            "    counts = collections.Counter()\n"
            "    for word, count in corpus.items():\n"
            "        counts.update({p: count * e for p, e in forward_backward(word, pieces)[1].items()})\n",
            "math.log(c / total) for piece, c": "math.log(c) - math.log(total) for piece, c",
        },
    ),
    Alternative(
        "prune-stable-sort-and-torch-logsumexp",
        "prune ranks with two stable sorts (names, then loss and score descending) and renormalises with "
        "torch.logsumexp",
        {
            RANKED: "    ranked = sorted(sorted(others), key=lambda x: (loss[x], pieces[x]), reverse=True)\n",
            NORM: "    import torch\n\n"
            "    norm = float(torch.logsumexp(torch.tensor([pieces[p] for p in kept], dtype=torch.float64), 0))\n",
        },
    ),
    Alternative(
        "train-counter-seed",
        "train counts the seed with collections.Counter and sorts with two stable sorts",
        {
            "    chars: dict[str, int] = {}\n"
            "    substrings: dict[str, int] = {}\n"
            "    for word, count in corpus.items():\n"
            "        for i in range(len(word)):\n"
            "            chars[word[i]] = chars.get(word[i], 0) + count\n"
            "            for j in range(i + 2, min(len(word), i + 16) + 1):\n"
            "                substrings[word[i:j]] = substrings.get(word[i:j], 0) + count\n"
            "    ranked = sorted(substrings, key=lambda s: (-substrings[s], -len(s), s))\n": "    import collections\n"
            "\n"
            "    chars, substrings = collections.Counter(), collections.Counter()\n"
            "    for word, count in corpus.items():\n"
            "        for c in word:\n"
            "            chars[c] += count\n"
            "        for length in range(2, 17):\n"
            "            for i in range(len(word) - length + 1):\n"
            "                substrings[word[i : i + length]] += count\n"
            "    ranked = sorted(sorted(substrings), key=lambda s: (substrings[s], len(s)), reverse=True)\n"
        },
    ),
]

_EMPTY = (
    "return text",
    "return list(text)",
    "return 0.0, {}",
    "return dict(pieces)",
    "return dict(pieces)",
    "return {}",
)
_CHARACTERS = (
    'return SPACE + text.replace(" ", SPACE)',
    "return list(text)",
    "return 0.0, {c: 1.0 for c in text if c in pieces}",
    "return {p: s for p, s in pieces.items() if len(p) == 1}",
    "return {p: s for p, s in pieces.items() if len(p) == 1}",
    "return {c: -1.0 for w in corpus for c in w}",
)

TRIVIAL = [
    Trivial("identity", "every function returns its input, or nothing", _EMPTY),
    Trivial("characters-only", "every piece is one character: no segmentation, no training", _CHARACTERS),
]
