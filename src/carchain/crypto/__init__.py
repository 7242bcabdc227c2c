"""A small, safe facade over pyca/cryptography and libsodium (PyNaCl)."""
