// Command cometbft_verifier checks carchain's state proofs and Merkle roots with
// CometBFT's own crypto/merkle package, so that compatibility is tested against
// the real implementation rather than our reading of it.
//
// Input (stdin, JSON): {"app_hash": hex, "store": str, "key": hex, "value": hex,
// "proof": [two simple:v ops as the carchain API returns them],
// "leaves": [hex, ...], "root": hex}. Output: "ok" or an error on stderr, exit 1.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/cometbft/cometbft/crypto/merkle"
)

type jsonProof struct {
	Total    int64    `json:"total"`
	Index    int64    `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Aunts    []string `json:"aunts"`
}

type jsonOp struct {
	Type  string    `json:"type"`
	Key   string    `json:"key"`
	Proof jsonProof `json:"proof"`
}

type input struct {
	AppHash string   `json:"app_hash"`
	Store   string   `json:"store"`
	Key     string   `json:"key"`
	Value   string   `json:"value"`
	Proof   []jsonOp `json:"proof"`
	Leaves  []string `json:"leaves"`
	Root    string   `json:"root"`
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		fail(fmt.Errorf("bad hex %q: %w", s, err))
	}
	return b
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func toOp(op jsonOp) merkle.ProofOperator {
	if op.Type != merkle.ProofOpValue {
		fail(fmt.Errorf("unexpected op type %q", op.Type))
	}
	aunts := make([][]byte, len(op.Proof.Aunts))
	for i, a := range op.Proof.Aunts {
		aunts[i] = mustHex(a)
	}
	p := &merkle.Proof{
		Total:    op.Proof.Total,
		Index:    op.Proof.Index,
		LeafHash: mustHex(op.Proof.LeafHash),
		Aunts:    aunts,
	}
	// Round-trip through the protobuf ProofOp and the default runtime's decoder,
	// as a light client receiving our proof would.
	decoded, err := merkle.DefaultProofRuntime().Decode(merkle.NewValueOp(mustHex(op.Key), p).ProofOp())
	if err != nil {
		fail(err)
	}
	return decoded
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(err)
	}
	if len(in.Proof) > 0 {
		ops := merkle.ProofOperators{}
		for _, op := range in.Proof {
			ops = append(ops, toOp(op))
		}
		kp := merkle.KeyPath{}
		kp = kp.AppendKey([]byte(in.Store), merkle.KeyEncodingURL)
		kp = kp.AppendKey(mustHex(in.Key), merkle.KeyEncodingHex)
		if err := ops.VerifyValue(mustHex(in.AppHash), kp.String(), mustHex(in.Value)); err != nil {
			fail(fmt.Errorf("state proof rejected: %w", err))
		}
	}
	if in.Root != "" {
		leaves := make([][]byte, len(in.Leaves))
		for i, l := range in.Leaves {
			leaves[i] = mustHex(l)
		}
		if got := merkle.HashFromByteSlices(leaves); !bytes.Equal(got, mustHex(in.Root)) {
			fail(fmt.Errorf("root mismatch: cometbft %X, carchain %s", got, in.Root))
		}
	}
	fmt.Println("ok")
}
