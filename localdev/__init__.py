"""Development-only tooling: the local API Gateway and an embedded Redis-protocol server.

Nothing here is packaged into the Lambda; Chalice ships only ``app.py`` and ``chalicelib/``.
"""
