"""Key derivation: category, segment and leaf-salt keys are distinct per scope and label."""

from __future__ import annotations

from carchain.crypto.kdf import (
    compute_category_key,
    compute_leaf_salt,
    compute_pseudonym_key,
    compute_segment_key,
)

EK = b"e" * 32


def test_segment_keys_differ_by_vehicle_epoch_seq_and_category() -> None:
    ck = compute_category_key(EK, "v1", 1, "diagnostics")
    keys = {
        compute_segment_key(ck, "v1", 1, 0, "diagnostics"),
        compute_segment_key(ck, "v1", 1, 1, "diagnostics"),
        compute_segment_key(ck, "v1", 2, 0, "diagnostics"),
        compute_segment_key(ck, "v2", 1, 0, "diagnostics"),
        compute_segment_key(ck, "v1", 1, 0, "location"),
        compute_segment_key(b"f" * 32, "v1", 1, 0, "diagnostics"),
    }
    assert len(keys) == 6 and ck not in keys


def test_labels_separate_purposes() -> None:
    assert compute_category_key(EK, "v1", 1, "x") != compute_pseudonym_key(EK, "v1", 1)
    salts = {compute_leaf_salt(EK, i) for i in range(100)}
    assert len(salts) == 100 and all(len(s) == 16 for s in salts)
    assert compute_leaf_salt(b"f" * 32, 0) != compute_leaf_salt(EK, 0)


def test_variable_length_fields_cannot_be_shifted() -> None:
    # Length prefixes: ("v1", category "ab") never equals ("v1a", "b")-like splits.
    assert compute_category_key(EK, "v1", 1, "ab") != compute_category_key(EK, "v1a", 1, "b")
