"""BPE's answer key (grader/answers.py): the bytes each merged id stands for, which is decode's own
table, so a class release ships its results for the public tests, not this file. Failure messages
use it to spell a merge (b'th' + b'e'); the hidden tests build decode's oracle from it.
"""

from grader.answers import recorded


@recorded
def spelled(merges: dict[tuple[int, int], int]) -> list[bytes]:
    """[bytes of id 256, bytes of id 257, ...] for `merges`, {(id1, id2): new_id} in creation order
    with new ids 256, 257, ... (the expected merges of a test, never a learner's)."""
    vocab = [bytes([b]) for b in range(256)]
    for a, b in merges:
        vocab.append(vocab[a] + vocab[b])
    return vocab[256:]
