"""Every malformed bundle gets one typed error line from ``carchain verify``, never a traceback."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carchain.cli.main import app as cli
from tests.conftest import CHAIN_ID

Bundle = tuple[dict[str, Any], dict[str, Any]]
Mutation = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[last] = value
        return doc

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        del target[last]
        return doc

    return mutate


MALFORMED: dict[str, Mutation] = {
    "height is text": _set("state.height", "twelve"),
    "height is a numeric string": _set("state.height", "12"),
    "height is a float": _set("state.height", 12.5),
    "height is a bool": _set("state.height", True),
    "height is negative": _set("state.height", -3),
    "height is huge": _set("state.height", 2**80),
    "height is null": _set("state.height", None),
    "block height is text": _set("block.header.height", "x"),
    "block height is huge": _set("block.header.height", 2**70),
    "block time is text": _set("block.header.time_ms", "noon"),
    "block engine unknown": _set("block.engine", "pow"),
    "block is a string": _set("block", "genesis"),
    "block header is a list": _set("block.header", []),
    "block hash is a number": _set("block.hash", 7),
    "block app hash bad hex": _set("block.header.app_hash", "zz"),
    "block chain id empty": _set("block.header.chain_id", ""),
    "projections missing": _drop("projections"),
    "record index missing": _drop("record_index"),
    "state missing": _drop("state"),
    "block missing": _drop("block"),
    "anchor value missing": _drop("state.anchor_value"),
    "header app hash missing": _drop("block.header.app_hash"),
    "projection bad hex": _set("projections.0.projection", "xyz"),
    "projection odd hex": _set("projections.0.projection", "abc"),
    "salt bad hex": _set("projections.0.salt", "zz"),
    "category missing": _drop("projections.0.category"),
    "anchor tx bad hex": _set("anchor_tx", "0g"),
    "vehicle key bad hex": _set("state.vehicle_key", "--"),
    "projection is a number": _set("projections.0.projection", 5),
    "projections empty": _set("projections", []),
    "projections a dict": _set("projections", {}),
    "projections repeat a category": lambda doc: {
        **doc,
        "projections": doc["projections"] + doc["projections"][:1],
    },
    "too many projections": lambda doc: {**doc, "projections": doc["projections"] * 13},
    "record index negative": _set("record_index", -1),
    "record index text": _set("record_index", "first"),
    "projection proof is a list": _set("projections.0.proof", [1, 2]),
    "projection proof total text": _set("projections.0.proof.total", "many"),
    "projection proof aunts not hex": _set("projections.0.proof.aunts", ["zz"]),
    "projection proof total infinite": _set("projections.0.proof.total", float("inf")),
    "projection proof index NaN": _set("projections.0.proof.index", float("nan")),
    "anchor proof total infinite": lambda doc: _set("state.anchor_proof.0.proof.total", 1e400)(doc),
    "batch proof empty": _set("batch_proof", {}),
    "state is a list": _set("state", []),
    "anchor proof is a dict": _set("state.anchor_proof", {}),
    "anchor proof ops are numbers": _set("state.anchor_proof", [1, 2]),
    "anchor proof op without key": _set("state.anchor_proof", [{"type": "simple:v"}] * 2),
    "vehicle value not a vehicle": _set("state.vehicle_value", "c0"),
    "batch header garbage": _set("batch_header", "00ff"),
    "wrong version v1": _set("format", "carchain/record-proof/v1"),
    "wrong version v2": _set("format", "carchain/record-proof/v2"),
    "version missing": _drop("format"),
    "version is a number": _set("format", 2),
    "not an object": lambda doc: [doc],
    "null": lambda doc: None,
    "a string": lambda doc: "bundle",
}


def run_verify(tmp_path: Path, text: str, *trust: str) -> Any:
    path = tmp_path / "bundle.json"
    path.write_text(text)
    return CliRunner().invoke(cli, ["verify", str(path), *trust], env={"COLUMNS": "80"})


def assert_one_error_line(result: Any) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error "), result.stderr


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_invalid_malformed_bundle_gets_one_typed_error_line(
    proven: Bundle, tmp_path: Path, name: str
) -> None:
    bundle, header = proven
    doc = MALFORMED[name](copy.deepcopy(bundle))
    result = run_verify(tmp_path, json.dumps(doc), "--trust-hash", header["hash"])
    assert_one_error_line(result)
    assert result.stderr.split(":")[0] in {
        "error malformed_bundle",
        "error invalid_proof",
        "error untrusted_header",
    }


NETWORK_MALFORMED: dict[str, Mutation] = {
    "header height is text": _set("block.header.height", "tall"),
    "header height infinite": _set("block.header.height", float("inf")),
    "header time garbage": _set("block.header.time", "yesterday"),
    "header time not utc": _set("block.header.time", "2026-01-01T00:00:00+01:00"),
    "header version missing": _drop("block.header.version"),
    "header is a list": _set("block.header", [1]),
    "commit missing": _drop("block.commit"),
    "commit signatures a dict": _set("block.commit.signatures", {}),
    "commit signature bad base64": _set("block.commit.signatures.0.signature", "!!"),
    "commit signature flag text": _set("block.commit.signatures.0.block_id_flag", "yes"),
    "commit round text": _set("block.commit.round", "r"),
    "commit block id null": _set("block.commit.block_id", None),
    "validators a dict": _set("block.validators", {}),
    "validator key type rsa": _set("block.validators.0.pub_key.type", "rsa"),
    "validator key bad base64": _set("block.validators.0.pub_key.value", "@@"),
    "validator power text": _set("block.validators.0.voting_power", "lots"),
    "validator address not its key": _set("block.validators.0.address", "00" * 20),
    "header app hash bad hex": _set("block.header.app_hash", "xx"),
}


@pytest.mark.parametrize("name", sorted(NETWORK_MALFORMED))
def test_invalid_malformed_network_bundle_gets_one_typed_error_line(
    proven: Bundle, tmp_path: Path, name: str
) -> None:
    from tests.sdk.test_bundle_trust import VALIDATOR_KEYS, as_network, network_chain

    net = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS))
    vals = tmp_path / "validators.json"
    vals.write_text(json.dumps(net["block"]["validators"]))
    trust = ["--validators", str(vals), "--chain-id", CHAIN_ID]
    assert run_verify(tmp_path, json.dumps(net), *trust).exit_code == 0
    doc = NETWORK_MALFORMED[name](copy.deepcopy(net))
    assert_one_error_line(run_verify(tmp_path, json.dumps(doc), *trust))


@pytest.mark.parametrize("cut", [0, 1, 10, 100, -2])
def test_invalid_truncated_or_unreadable_bundle(proven: Bundle, tmp_path: Path, cut: int) -> None:
    text = json.dumps(proven[0])
    result = run_verify(tmp_path, text[:cut], "--trust-hash", proven[1]["hash"])
    assert_one_error_line(result)
    assert "malformed_bundle" in result.stderr


def test_invalid_deeply_nested_bundle_and_bad_trust_options(tmp_path: Path) -> None:
    assert_one_error_line(run_verify(tmp_path, "[" * 100_000, "--trust-hash", "00" * 32))
    assert_one_error_line(run_verify(tmp_path, "{}", "--trust-hash", "not-hex"))
    assert_one_error_line(run_verify(tmp_path, "{}", "--trust-hash", "00"))
    assert_one_error_line(run_verify(tmp_path, "{}", "--header", str(tmp_path / "none.json")))
    assert_one_error_line(run_verify(tmp_path, "{}", "--validators", str(tmp_path / "x.json")))
    (tmp_path / "g.json").write_text('{"chain_id": 5}')
    assert_one_error_line(run_verify(tmp_path, "{}", "--genesis", str(tmp_path / "g.json")))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _base(proven: Bundle, engine: str, tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    if engine == "solo":
        return proven[0], ["--trust-hash", proven[1]["hash"]]
    from tests.sdk.test_bundle_trust import VALIDATOR_KEYS, as_network, network_chain

    net = as_network(proven[0], network_chain(proven[0], VALIDATOR_KEYS))
    vals = tmp_path / "validators.json"
    vals.write_text(json.dumps(net["block"]["validators"]))
    return net, ["--validators", str(vals), "--chain-id", CHAIN_ID]


@pytest.mark.parametrize("engine", ["solo", "cometbft"])
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_bundle_json_never_crashes_verify(
    proven: Bundle, tmp_path: Path, engine: str, data: st.DataObject
) -> None:
    bundle, trust = _base(proven, engine, tmp_path)
    doc = copy.deepcopy(bundle)
    paths = _paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target: Any = doc
        try:
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape above this path
    text = json.dumps(doc)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]
    result = run_verify(tmp_path, text, *trust)
    if result.exit_code == 0:  # a mutation that changed nothing the proof covers
        assert "verified" in result.output
    else:
        assert_one_error_line(result)
