"""The vehicle data plane: typed records, minimisation, batches and key custody.

Nothing here touches the chain: records stay off chain, encrypted; only Merkle
roots of signed batch headers reach it, through an OEM gateway's anchor.
"""
