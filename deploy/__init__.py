"""Deploy the app to AWS: the infra stack, the Chalice stages, the one-template CloudFormation path.

``python -m deploy --help`` (or ``make deploy|package|teardown STAGE=...``) is the entry point;
``docs/deploy.md`` is the guide. Nothing here is packaged into the Lambda.
"""
