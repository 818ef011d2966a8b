"""What the tests and the benchmarks share: recorded API Gateway events and builders for them, an
in-memory sender and a harness around the real handlers, a fake Management API, and the relaxed
policies that get out of the way of whatever is being measured. Never shipped to Lambda."""
