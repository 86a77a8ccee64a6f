"""The local stack (docs/local.md): the real handlers over moto, a function URL, an SQS event source and the embedded index."""
