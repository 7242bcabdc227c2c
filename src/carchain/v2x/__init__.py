"""Car to car (V2X): CAM/DENM codec, IEEE 1609.2 signed data, certificates and the receiver.

This layer sits above ``data`` and below ``node``; the chain (``core``) never imports it:
it stores certificate bytes, keys, hashes and seeds, and never decodes UPER or C-OER.
"""
