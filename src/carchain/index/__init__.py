"""The audit index: committed blocks and access logs copied into PostgreSQL.

An optional follower (``carchain index run``) reads committed blocks and access-log
entries from a node (in-process backend or HTTP) and writes them to PostgreSQL in
batches (``COPY``), one transaction per run of heights with its cursor, so a restart
resumes exactly where the last commit left off and re-indexing a height replaces its
rows. The API's ``/index/...`` routes answer audit queries from it. Nothing here is
proven: an entry names its position (event id, vehicle and seq) so a reader fetches
the proven value from the node. SQLite state stays the embedded default.
"""
