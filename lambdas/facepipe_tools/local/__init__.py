"""The local stack (§7): the real handlers over moto, a function URL, an SQS event source and the embedded index."""
