"""Secrets Manager reads, shared by the Redis AUTH token and the TURN secret.

Named ``aws_secrets`` rather than ``secrets`` because sibling modules use the standard library's
``secrets``; a local module of that name would mislead every reader of ``import secrets``.
"""

from __future__ import annotations


def secret_string(secret_arn: str) -> str:
    """The secret's ``SecretString``, asked of the region the ARN names (it may differ from the
    function's own)."""
    import boto3  # only deployments with a secret pay for this import, and only when they read it

    region = secret_arn.split(":")[3]
    secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    return str(secret["SecretString"])
