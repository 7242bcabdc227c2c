"""The error registry: every error class of src/ registered once, with its codes and status."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import unicodedata
from pathlib import Path

import pytest

import carchain
from carchain import errors
from carchain.errors import CarchainError, InvalidNonce, get_error_class, get_registered_errors

SRC = Path(carchain.__file__).parent


def _import_all_modules() -> None:
    for info in pkgutil.walk_packages(carchain.__path__, "carchain."):
        importlib.import_module(info.name)


def _walk_subclasses(cls: type[CarchainError]) -> list[type[CarchainError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_walk_subclasses(sub)]
    return out


def test_every_error_class_in_src_is_registered_with_codes_and_status() -> None:
    _import_all_modules()
    registered = set(get_registered_errors())
    for cls in _walk_subclasses(CarchainError):
        if cls.__module__.startswith("tests."):
            continue
        assert cls.__module__.startswith("carchain.errors."), f"{cls} lives outside carchain.errors"
        if cls.is_group:
            continue
        assert cls in registered, cls
        assert get_error_class(cls.code) is cls
        assert isinstance(cls.abci_code, int) and cls.abci_code > 0
        assert 200 <= cls.http_status < 600


def test_codes_and_abci_codes_are_unique() -> None:
    classes = get_registered_errors()
    assert len({c.code for c in classes}) == len(classes)
    assert len({c.abci_code for c in classes}) == len(classes)


def test_no_error_class_is_defined_outside_the_errors_package() -> None:
    # A class derived from any error name in src/ must live in carchain.errors.
    names = {c.__name__ for c in _walk_subclasses(CarchainError)} | {"CarchainError"}
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "errors"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                assert not bases & names, f"{path}: {node.name} derives from an error"


def test_every_raise_site_passes_only_declared_fields() -> None:
    # Fields are checked when an error is built; this finds a typo on a path no test takes.
    by_name = {c.__name__: c for c in _walk_subclasses(CarchainError)} | {
        "CarchainError": CarchainError
    }
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                cls = by_name.get(node.func.id)
                names = {k.arg for k in node.keywords if k.arg is not None}
                if cls is not None:
                    assert names <= set(cls.field_types), f"{path}:{node.lineno} {cls.__name__}"


def test_a_duplicate_code_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="reuses 'invalid_nonce'"):

        class _Again(CarchainError):
            code = "invalid_nonce"
            abci_code = 9001
            http_status = 409

    with pytest.raises(TypeError, match="reuses 6"):

        class _SameAbci(CarchainError):
            code = "brand_new_code"
            abci_code = InvalidNonce.abci_code
            http_status = 409

    assert get_error_class("invalid_nonce") is InvalidNonce
    assert get_error_class("brand_new_code") is CarchainError


def test_a_class_without_its_codes_is_refused() -> None:
    with pytest.raises(TypeError, match="must declare abci_code, http_status"):

        class _Inherits(InvalidNonce):
            code = "inherits_the_rest"

    assert get_error_class("inherits_the_rest") is CarchainError


def test_a_group_cannot_be_raised() -> None:
    with pytest.raises(TypeError, match="groups errors"):
        errors.TransactionError("m")


def test_fields_are_typed_and_checked() -> None:
    err = InvalidNonce("m", expected=5, got=7)
    assert (err.expected, err.got) == (5, 7)
    assert InvalidNonce("m").expected is None
    with pytest.raises(TypeError, match="no field 'nonce'"):
        InvalidNonce("m", nonce=7)
    with pytest.raises(TypeError, match=r"InvalidNonce\.expected must be"):
        InvalidNonce("m", expected="5")


def test_make_error_rebuilds_fields_from_json_and_drops_bad_ones() -> None:
    err = errors.LivenessViolation("m", key=b"\x01\x02", total=3)
    back = errors.make_error(err.code, err.message, err.to_dict()["fields"])  # type: ignore[arg-type]
    assert type(back) is errors.LivenessViolation and back.fields == err.fields
    # A peer's garbage never makes the rebuild raise: wrong types and unknown names are dropped.
    odd = errors.make_error("invalid_nonce", "m", {"expected": "x", "got": True, "new": 1})
    assert type(odd) is InvalidNonce and odd.fields == {}
    bad_hex = errors.make_error("liveness_violation", "m", {"key": "zz"})
    assert bad_hex.fields == {}
    assert errors.decode_fields_json(b"\xff") == {}
    assert errors.decode_fields_json("[1]") == {}


def test_deeply_nested_field_json_from_a_peer_reads_as_no_fields() -> None:
    # json.loads raises RecursionError, not ValueError, on deep nesting: a peer's 20 kB.
    assert errors.decode_fields_json("[" * 20_000) == {}
    assert errors.decode_fields_json('{"a":' * 20_000) == {}


def test_a_peers_message_and_text_fields_are_cut_and_made_printable() -> None:
    hostile = "ok\x1b[2J\nforged log line\r\x9b\u202e" + "x" * 50_000
    err = errors.make_error("unregistered_vehicle", hostile, {"vehicle_id": hostile})
    for text in (err.message, err.fields["vehicle_id"]):
        assert isinstance(text, str) and len(text) <= errors.base.MAX_PEER_TEXT
        assert text.startswith("ok\ufffd[2J forged log line \ufffd\ufffd")
        assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cf")]
    # Local errors keep their text: only a peer's answer is rewritten.
    assert errors.UnregisteredVehicle("a\nb").message == "a\nb"


def test_a_peers_sequence_field_keeps_only_declared_element_types() -> None:
    ok = errors.make_error("proof_unavailable", "m", {"heights": [3, 4]})
    assert ok.fields == {"heights": [3, 4]}
    for bad in ([3, "x"], [True], [[1]], [{"a": 1}], [1.5]):
        err = errors.make_error("proof_unavailable", "m", {"heights": bad, "field": "f"})
        assert err.fields == {"field": "f"}, bad
