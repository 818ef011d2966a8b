"""Random video chat backend: everything the Lambda functions run lives in this package."""
