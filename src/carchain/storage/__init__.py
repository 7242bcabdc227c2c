"""Storage behind small interfaces: state with its Merkle commitment, blocks, blobs."""
