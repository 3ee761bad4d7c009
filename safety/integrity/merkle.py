"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) hashes them: pure, standard library.

A checkpoint signs the root of a tree over the audit events (DESIGN §5). The tree is the one
RFC 9162 §2.1 defines, so anyone can check a checkpoint, an inclusion proof (one record is in
it) or a consistency proof (a later checkpoint extends an earlier one) with any CT-compatible
tool, not only with ours:

- a leaf hash is SHA-256(0x00 || data), a node hash SHA-256(0x01 || left || right): the two
  cannot be confused, so no leaf can pose as a subtree;
- a tree of n leaves splits at k, the largest power of two below n.

It is small enough to write and to test against the RFC's published vectors rather than to
pull in a library (tests/unit/test_merkle.py). `Frontier` keeps only the roots of the perfect
subtrees along the right edge, so appending and taking the root cost O(log n): a checkpoint
after 10,000 new events never rereads the millions before them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: The root of an empty tree: the hash of nothing.
EMPTY_ROOT = sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    return sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """Return MTH(D[n]) for leaf hashes (already hashed with `hash_leaf`)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Bottom-up pairing gives RFC 9162's tree: an odd node is carried up unchanged.
    while len(level) > 1:
        paired = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


@dataclass
class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first.

    Appending a leaf merges equal-sized subtrees as a binary counter carries; the root folds
    them right to left. The frontier of n leaves is at most log2(n) + 1 hashes, so it can be
    stored with each checkpoint and picked up again by the next.
    """

    size: int = 0
    #: (subtree size, subtree root), sizes strictly decreasing powers of two.
    peaks: list[tuple[int, bytes]] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaves in order. A leaf merges one peak per trailing 1-bit of the size before
        it (a binary counter's carries); this loop is the checkpoint's and verify's hot path,
        so it binds what it calls locally."""
        peaks, size, node_hash = self.peaks, self.size, sha256
        for leaf in leaves:
            node, width, carries = leaf, 1, size
            while carries & 1:
                left_width, left = peaks.pop()
                node = node_hash(NODE_PREFIX + left + node).digest()
                width += left_width
                carries >>= 1
            peaks.append((width, node))
            size += 1
        self.size = size

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        node = self.peaks[-1][1]
        for _, peak in reversed(self.peaks[:-1]):
            node = hash_children(peak, node)
        return node

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.peaks))

    def to_json(self) -> list[list]:
        return [[size, peak.hex()] for size, peak in self.peaks]

    @classmethod
    def from_json(cls, peaks: Sequence[Sequence]) -> Frontier:
        parsed = [(int(size), bytes.fromhex(peak)) for size, peak in peaks]
        sizes = [size for size, _ in parsed]
        if any(s & (s - 1) or s <= 0 for s in sizes) or sizes != sorted(set(sizes), reverse=True):
            raise ValueError("a frontier is strictly decreasing powers of two")
        return cls(sum(sizes), parsed)


# --- proofs (RFC 9162 §2.1.3 and §2.1.4) -------------------------------------------------------


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return PATH(m, D[n]): the audit path of leaf `index` in the tree of `leaves`."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """Check an inclusion proof as RFC 9162 §2.1.3.2 says, without the tree."""
    if not 0 <= index < size:
        return False
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = hash_children(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = hash_children(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == expected_root


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return PROOF(m, D[n]): that the first `first` leaves are a prefix of `leaves`."""
    n = len(leaves)
    if not 0 < first <= n:
        raise ValueError(f"no consistency proof from {first} to {n}")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """Check a consistency proof as RFC 9162 §2.1.4.2 says, from the two roots alone."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the path's start
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(node, fr)
            sr = hash_children(node, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
