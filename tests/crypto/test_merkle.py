"""RFC 6962 Merkle trees against the Certificate Transparency test vectors and a
naive reference written here from the RFC's definition (section 2.1)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carchain.crypto.merkle import (
    MerkleProof,
    compute_inner_hash,
    compute_leaf_hash,
    compute_merkle_root,
    compute_proofs,
    compute_split_point,
)
from carchain.errors import InvalidProof

# The CT test leaves (certificate-transparency-go merkletree tests, also used by
# Go's RFC 6962 implementations) and the published tree heads for sizes 0..8.
CT_LEAVES = [
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
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Published inclusion paths: (leaf index, tree size, audit path bottom-up).
CT_INCLUSION = [
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


# --- a naive reference, straight from RFC 6962 section 2.1 ---------------------------


def naive_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as the RFC defines it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 6962 section 2.1.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def test_naive_reference_matches_published_roots() -> None:
    """Guard the guard: the reference reproduces the CT vectors."""
    for n in range(9):
        assert naive_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n]
    for index, size, path in CT_INCLUSION:
        assert [h.hex() for h in naive_path(index, CT_LEAVES[:size])] == path


@pytest.mark.parametrize("n", range(9))
def test_ct_roots(n: int) -> None:
    assert compute_merkle_root(CT_LEAVES[:n]).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    root, proofs = compute_proofs(CT_LEAVES[:size])
    proof = proofs[index]
    assert root.hex() == CT_ROOTS[size]
    assert [a.hex() for a in proof.aunts] == path
    assert (proof.total, proof.index) == (size, index)
    proof.verify(root, CT_LEAVES[index])


def test_hash_prefixes() -> None:
    assert compute_leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert compute_inner_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


def test_split_point() -> None:
    assert [compute_split_point(n) for n in range(2, 11)] == [1, 2, 2, 4, 4, 4, 4, 8, 8]
    with pytest.raises(ValueError):
        compute_split_point(1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70))
def test_every_proof_matches_reference_and_verifies(leaves: list[bytes]) -> None:
    root, proofs = compute_proofs(leaves)
    assert root == naive_mth(leaves)
    assert compute_merkle_root(leaves) == root
    for i, proof in enumerate(proofs):
        assert list(proof.aunts) == naive_path(i, leaves)
        proof.verify(root, leaves[i])
        assert MerkleProof.from_dict(proof.to_dict()) == proof


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.binary(max_size=20), min_size=2, max_size=40, unique=True),
    st.data(),
)
def test_tampered_proofs_fail(leaves: list[bytes], data: st.DataObject) -> None:
    root, proofs = compute_proofs(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = proofs[i]
    other = leaves[(i + 1) % len(leaves)]
    with pytest.raises(InvalidProof):
        proof.verify(root, other)  # another leaf
    with pytest.raises(InvalidProof):
        proof.verify(hashlib.sha256(root).digest(), leaves[i])  # another root
    if proof.aunts:
        j = data.draw(st.integers(0, len(proof.aunts) - 1))
        bad = bytearray(proof.aunts[j])
        bad[data.draw(st.integers(0, 31))] ^= 1
        aunts = (*proof.aunts[:j], bytes(bad), *proof.aunts[j + 1 :])
        with pytest.raises(InvalidProof):
            MerkleProof(proof.total, proof.index, proof.leaf_hash, aunts).verify(root, leaves[i])
        with pytest.raises(InvalidProof):  # a dropped aunt
            MerkleProof(proof.total, proof.index, proof.leaf_hash, proof.aunts[:-1]).verify(
                root, leaves[i]
            )
    with pytest.raises(InvalidProof):  # an extra aunt
        MerkleProof(proof.total, proof.index, proof.leaf_hash, (*proof.aunts, root)).verify(
            root, leaves[i]
        )
    # Moving the proof to another position of the same tree does not verify.
    j = (i + 1) % len(leaves)
    moved = MerkleProof(proof.total, j, proof.leaf_hash, proof.aunts)
    with pytest.raises(InvalidProof):
        moved.verify(root, leaves[i])


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {},
        {"total": 1, "index": 0, "leaf_hash": "zz", "aunts": []},
        {"total": "x", "index": 0, "leaf_hash": "00" * 32, "aunts": []},
        {"total": 1, "index": 0, "leaf_hash": "00" * 32, "aunts": "00"},
        {"total": 1, "index": 0, "leaf_hash": "00" * 32},
    ],
)
def test_invalid_proof_documents(doc: object) -> None:
    with pytest.raises(InvalidProof):
        MerkleProof.from_dict(doc)


@pytest.mark.parametrize(
    "proof",
    [
        MerkleProof(0, 0, b"\x00" * 32, ()),
        MerkleProof(2, 2, b"\x00" * 32, (b"\x00" * 32,)),
        MerkleProof(2, -1, b"\x00" * 32, (b"\x00" * 32,)),
        MerkleProof(2, 0, b"\x00" * 31, (b"\x00" * 32,)),
        MerkleProof(2, 0, b"\x00" * 32, (b"\x00" * 33,)),
        MerkleProof(2**200, 0, b"\x00" * 32, (b"\x00" * 32,) * 101),
    ],
)
def test_invalid_proof_shapes(proof: MerkleProof) -> None:
    with pytest.raises(InvalidProof):
        proof.compute_root()
