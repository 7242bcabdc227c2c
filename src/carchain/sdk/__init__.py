"""Client SDK: keys, transaction building, submission, queries and proof checks."""
