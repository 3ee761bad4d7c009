"""The audit tree hashes as RFC 9162 says: the published vectors, and proofs of every shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety.integrity import merkle

#: RFC 6962 / RFC 9162 reference inputs and roots (the Certificate Transparency test data).
INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAVES = [merkle.hash_leaf(data) for data in INPUTS]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
#: (leaf index, tree size, audit path).
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
#: (first size, second size, consistency path).
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

leaf_lists = st.lists(st.binary(max_size=8).map(merkle.hash_leaf), min_size=1, max_size=70)


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_each_reference_tree_is_the_published_one(size):
    assert merkle.root(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_a_frontier_built_leaf_by_leaf_has_the_published_root(size):
    frontier = merkle.Frontier()
    frontier.extend(LEAVES[:size])

    assert (frontier.size, frontier.root()) == (size, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_are_the_published_ones_and_verify(index, size, path):
    proof = merkle.inclusion_proof(index, LEAVES[:size])

    assert [p.hex() for p in proof] == path
    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])
    assert not merkle.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(first, second, path):
    proof = merkle.consistency_proof(first, LEAVES[:second])

    assert [p.hex() for p in proof] == path
    assert merkle.verify_consistency(first, second, proof, ROOTS[first], ROOTS[second])


def test_a_leaf_cannot_pose_as_a_node():
    left, right = LEAVES[1], LEAVES[2]

    assert merkle.hash_leaf(left + right) != merkle.hash_children(left, right)


@given(leaf_lists, st.data())
def test_every_leaf_of_every_tree_proves_its_inclusion_and_a_changed_leaf_does_not(leaves, data):
    index = data.draw(st.integers(0, len(leaves) - 1))
    top = merkle.root(leaves)
    proof = merkle.inclusion_proof(index, leaves)

    assert merkle.verify_inclusion(index, len(leaves), leaves[index], proof, top)
    changed = merkle.hash_leaf(leaves[index])  # any other 32 bytes
    assert not merkle.verify_inclusion(index, len(leaves), changed, proof, top)
    if proof:
        forged = [merkle.hash_leaf(b"forged"), *proof[1:]]
        assert not merkle.verify_inclusion(index, len(leaves), leaves[index], forged, top)


@given(leaf_lists, st.data())
def test_every_prefix_is_consistent_and_a_rewritten_prefix_is_not(leaves, data):
    first = data.draw(st.integers(1, len(leaves)))
    proof = merkle.consistency_proof(first, leaves)
    first_root, second_root = merkle.root(leaves[:first]), merkle.root(leaves)

    assert merkle.verify_consistency(first, len(leaves), proof, first_root, second_root)
    rewritten = merkle.root([merkle.hash_leaf(b"forged"), *leaves[1:first]])
    assert not merkle.verify_consistency(first, len(leaves), proof, rewritten, second_root)


@given(leaf_lists, st.data())
def test_a_frontier_picked_up_from_json_goes_on_to_the_same_root(leaves, data):
    cut = data.draw(st.integers(0, len(leaves)))
    frontier = merkle.Frontier()
    frontier.extend(leaves[:cut])

    resumed = merkle.Frontier.from_json(frontier.to_json())
    resumed.extend(leaves[cut:])

    assert resumed.root() == merkle.root(leaves)
    assert resumed.size == len(leaves)


def test_a_frontier_that_is_not_a_binary_counter_is_refused():
    with pytest.raises(ValueError):
        merkle.Frontier.from_json([[2, "00" * 32], [2, "00" * 32]])
