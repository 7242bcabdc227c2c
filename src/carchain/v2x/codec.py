"""Encode and decode CAM, DENM and IEEE 1609.2 structures with pycrate's compiled modules.

No hand-rolled encoder: every byte comes from pycrate (``pycrate_asn1dir``), compiled from
the standards' own ASN.1 — ETSI EN 302 637-2 CAM v2 (``ITS_CAM_2``, UPER), EN 302 637-3
DENM (``ITS_DENM_3``, UPER) and IEEE 1609.2 / ETSI TS 103 097 (``ITS_IEEE1609_2``, C-OER).

pycrate's type objects are module-level singletons that hold the last value, so every call
takes one lock. Any failure of the library on untrusted bytes (truncated, garbage, trailing
bytes, oversized) becomes one typed ``V2xDecodeError``; nothing else escapes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pycrate_asn1dir import ITS_CAM_2, ITS_DENM_3, ITS_IEEE1609_2
from pycrate_asn1rt.asnobj import ASN1Obj
from pycrate_asn1rt.asnobj_basic import NULL
from pycrate_asn1rt.dictobj import ASN1Dict
from pycrate_core.charpy import Charpy

from carchain.errors import V2xDecodeError

MAX_MESSAGE_SIZE = 2_048  # bytes: a V2X SPDU fits one radio frame; larger is refused unread
_LOCK = threading.Lock()
_T = TypeVar("_T")


def _null_from_oer_ws(self: Any, char: Charpy) -> None:
    self._from_per_ws(char)


# pycrate 0.8.1's NULL._from_oer_ws drops its ``char`` argument (TypeError on any NULL in a
# structure-decode); the fix is the one-line call it means. Remove once pycrate ships it.
NULL._from_oer_ws = _null_from_oer_ws

_DOT2 = ITS_IEEE1609_2.Ieee1609Dot2
IEEE1609DOT2_DATA = _DOT2.Ieee1609Dot2Data
TO_BE_SIGNED_DATA = _DOT2.ToBeSignedData
CERTIFICATE = _DOT2.CertificateBase
SIGNER_IDENTIFIER = _DOT2.SignerIdentifier
TO_BE_SIGNED_CERTIFICATE = _DOT2.ToBeSignedCertificate
CAM = ITS_CAM_2.CAM_PDU_Descriptions.CAM
DENM = ITS_DENM_3.DENM_PDU_Descriptions.DENM


def _collect_parents(roots: tuple[Any, ...]) -> tuple[tuple[Any, Any], ...]:
    """Return (type object, its ``_parent``) for every object reachable from ``roots``."""
    seen: dict[int, Any] = {}
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        children = getattr(obj, "_cont", None)
        if isinstance(children, ASN1Dict):
            stack.extend(c for c in children.values() if isinstance(c, ASN1Obj))
        elif isinstance(children, ASN1Obj):
            stack.append(children)
    return tuple((obj, obj._parent) for obj in seen.values())


def _fullname_without_cycles(self: Any) -> str:
    names, seen, obj = [self._name], {id(self)}, self
    while obj._parent is not None and id(obj._parent) not in seen:
        obj = obj._parent
        seen.add(id(obj))
        names.append(obj._name)
    return ".".join(reversed(names))


# pycrate points a component's ``_parent`` at the object decoding it and restores it only
# when the decode succeeds. Recursive types share components (Ieee1609Dot2Data holds an
# Ieee1609Dot2Data), so a failure halfway leaves a parent cycle in these module-level
# objects, and the error message pycrate formats next (``fullname()``, walking parents)
# looped until memory ran out: a six-byte message (``50813d671646``) did it. So the walk
# stops at a repeated object, and after every failure the parents are put back as loaded.
ASN1Obj.fullname = _fullname_without_cycles
_ROOTS = (IEEE1609DOT2_DATA, TO_BE_SIGNED_DATA, CERTIFICATE, TO_BE_SIGNED_CERTIFICATE)
_PARENTS = _collect_parents((*_ROOTS, SIGNER_IDENTIFIER, CAM, DENM))


def _restore_parents() -> None:
    for obj, parent in _PARENTS:
        obj._parent = parent


@dataclass(frozen=True, slots=True)
class Span:
    """A byte range ``raw[start:end]`` of a received encoding."""

    start: int
    end: int


def _run(kind: str, raw_size: int, action: Callable[[], _T], verb: str = "decode") -> _T:
    """Run one pycrate call under the lock; map every library failure to ``V2xDecodeError``."""
    with _LOCK:
        try:
            return action()
        except V2xDecodeError:
            _restore_parents()
            raise
        except Exception as exc:  # pycrate raises many unrelated types on bad input
            _restore_parents()
            raise V2xDecodeError(
                f"{kind}: cannot {verb} ({type(exc).__name__})", kind=kind, size=raw_size
            ) from exc


def validate_size(kind: str, raw: bytes) -> None:
    """Raise ``V2xDecodeError`` unless ``raw`` is non-empty bytes of at most MAX_MESSAGE_SIZE."""
    _check_size(kind, raw)


def _check_size(kind: str, raw: bytes) -> None:
    if not isinstance(raw, bytes | bytearray):
        raise V2xDecodeError(f"{kind}: expected bytes", kind=kind)
    if len(raw) == 0:
        raise V2xDecodeError(f"{kind}: empty input", kind=kind, size=0)
    if len(raw) > MAX_MESSAGE_SIZE:
        raise V2xDecodeError(f"{kind}: oversized", kind=kind, size=len(raw))


def _decode_exact(kind: str, asn: Any, raw: bytes, decode: str) -> Any:
    """Decode ``raw`` completely (trailing bytes are an error) and return the value."""
    _check_size(kind, raw)
    data = bytes(raw)

    def action() -> Any:
        char = Charpy(data)
        getattr(asn, f"from_{decode}")(char)
        if char.len_bit() != 0:
            raise V2xDecodeError(f"{kind}: trailing bytes", kind=kind, size=len(data))
        return asn.get_val()

    return _run(kind, len(data), action)


def _encode(kind: str, asn: Any, value: Any, encode: str) -> bytes:
    def action() -> bytes:
        # pycrate keeps the value object and deletes DEFAULT-valued fields from it while
        # encoding: give it a copy so the caller's value is never changed
        asn.set_val(copy.deepcopy(value))
        out: bytes = getattr(asn, f"to_{encode}")()
        return out

    return _run(kind, 0, action, verb="encode")


def encode_cam(value: dict[str, Any]) -> bytes:
    """Return the UPER encoding of a CAM (EN 302 637-2 v2) given as a pycrate value."""
    return _encode("cam", CAM, value, "uper")


def decode_cam(raw: bytes) -> dict[str, Any]:
    """Return the pycrate value of a UPER-encoded CAM; raise ``V2xDecodeError``."""
    value: dict[str, Any] = _decode_exact("cam", CAM, raw, "uper")
    return value


def encode_denm(value: dict[str, Any]) -> bytes:
    """Return the UPER encoding of a DENM (EN 302 637-3) given as a pycrate value."""
    return _encode("denm", DENM, value, "uper")


def decode_denm(raw: bytes) -> dict[str, Any]:
    """Return the pycrate value of a UPER-encoded DENM; raise ``V2xDecodeError``."""
    value: dict[str, Any] = _decode_exact("denm", DENM, raw, "uper")
    return value


def convert_jer_to_value(kind: str, jer_text: str) -> dict[str, Any]:
    """Return the pycrate value of a CAM or DENM written as ASN.1 JSON (JER, X.697)."""
    asn = {"cam": CAM, "denm": DENM}.get(kind)
    if asn is None:
        raise V2xDecodeError(f"unknown message kind {kind!r}", kind=kind)

    def action() -> dict[str, Any]:
        asn.from_jer(jer_text)
        value: dict[str, Any] = asn.get_val()
        return value

    return _run(kind, len(jer_text), action)


def convert_value_to_jer(kind: str, value: dict[str, Any]) -> str:
    """Return the JER (ASN.1 JSON) text of a CAM or DENM pycrate value."""
    asn = {"cam": CAM, "denm": DENM}[kind]

    def action() -> str:
        asn.set_val(copy.deepcopy(value))
        text: str = asn.to_jer()
        return text

    return _run(kind, 0, action)


def encode_ieee1609dot2_data(value: dict[str, Any]) -> bytes:
    """Return the C-OER encoding of an ``Ieee1609Dot2Data`` given as a pycrate value."""
    return _encode("ieee1609dot2data", IEEE1609DOT2_DATA, value, "coer")


def decode_ieee1609dot2_data(raw: bytes) -> dict[str, Any]:
    """Return the pycrate value of a C-OER ``Ieee1609Dot2Data``; raise ``V2xDecodeError``."""
    value: dict[str, Any] = _decode_exact("ieee1609dot2data", IEEE1609DOT2_DATA, raw, "coer")
    return value


def encode_to_be_signed_data(value: dict[str, Any]) -> bytes:
    """Return the C-OER encoding of a ``ToBeSignedData`` (what a sender signs)."""
    return _encode("tobesigneddata", TO_BE_SIGNED_DATA, value, "coer")


def encode_signer_identifier(value: tuple[str, Any]) -> bytes:
    """Return the C-OER encoding of a ``SignerIdentifier``."""
    return _encode("signeridentifier", SIGNER_IDENTIFIER, value, "coer")


def encode_certificate(value: dict[str, Any]) -> bytes:
    """Return the C-OER encoding of a 1609.2 ``CertificateBase``."""
    return _encode("certificate", CERTIFICATE, value, "coer")


def decode_certificate_value(raw: bytes) -> dict[str, Any]:
    """Return the pycrate value of a C-OER certificate; raise ``V2xDecodeError``."""
    value: dict[str, Any] = _decode_exact("certificate", CERTIFICATE, raw, "coer")
    return value


def encode_to_be_signed_certificate(value: dict[str, Any]) -> bytes:
    """Return the C-OER encoding of a ``ToBeSignedCertificate`` (what an issuer signs)."""
    return _encode("tobesignedcertificate", TO_BE_SIGNED_CERTIFICATE, value, "coer")


def decode_leading(kind: str, asn: Any, data: bytes) -> tuple[Any, int]:
    """Decode one ``asn`` value from the start of ``data``; return it and the bytes it used."""
    _check_size(kind, data)

    def action() -> tuple[Any, int]:
        char = Charpy(data)
        asn.from_coer(char)
        if char._cur % 8:
            raise V2xDecodeError(f"{kind}: not byte-aligned", kind=kind, size=len(data))
        value = asn.get_val()
        return value, char._cur // 8

    return _run(kind, len(data), action)


def decode_with_spans(
    kind: str, asn: Any, raw: bytes, paths: tuple[tuple[str, ...], ...]
) -> tuple[dict[str, Any], tuple[Span, ...]]:
    """Return the value of ``raw`` and where the component at each path lies in it.

    Decodes with pycrate's structure (``from_coer_ws``) and sums the bit lengths of the
    elements before the component: the span is what the sender sent, never a re-encoding.
    """
    _check_size(kind, raw)
    data = bytes(raw)

    def action() -> tuple[dict[str, Any], tuple[Span, ...]]:
        char = Charpy(data)
        asn.from_coer_ws(char)
        if char.len_bit() != 0:
            raise V2xDecodeError(f"{kind}: trailing bytes", kind=kind, size=len(data))
        value: dict[str, Any] = asn.get_val()
        return value, tuple(_locate(asn._struct, path) for path in paths)

    return _run(kind, len(data), action)


def _locate(struct: Any, path: tuple[str, ...]) -> Span:
    start_bits = 0
    node = struct
    for name in path:
        for element in node:
            if element._name == name:
                node = element
                break
            start_bits += element.get_bl()
        else:
            raise V2xDecodeError(f"component {name!r} absent", kind="structure")
    if start_bits % 8 or node.get_bl() % 8:
        raise V2xDecodeError("component not byte-aligned", kind="structure")
    return Span(start_bits // 8, (start_bits + node.get_bl()) // 8)
