"""An OEM's ingest gateway: verify vehicle batches, store ciphertext, anchor roots."""
