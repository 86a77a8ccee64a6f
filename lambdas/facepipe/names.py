"""Resource names and queue behaviour shared by Terraform (terraform/*.tf) and the local stack.

tests/deploy checks that terraform/ uses these same patterns and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "facepipe"

#: request/photo queues: redelivery after this long; DLQ after MAX_RECEIVE_COUNT receives
MAX_RECEIVE_COUNT = 5
#: a response seen by the wrong poller must come back at once (docs/contracts.md, Response)
RESPONSE_VISIBILITY_SECONDS = 0
RESPONSE_RETENTION_SECONDS = 3600
#: recognition function timeout; the request queue's visibility is 6x it (AWS guidance)
RECOGNITION_TIMEOUT_SECONDS = 60
REQUEST_VISIBILITY_SECONDS = 6 * RECOGNITION_TIMEOUT_SECONDS
BATCH_SIZE = 10
PEOPLE_INDEX = "GSI1"
#: a request_id is processed once within this window (Powertools idempotency, both functions)
IDEMPOTENCY_SECONDS = 3600
#: the partition key (PK) of every Powertools idempotency record, both functions
#: (DynamoDBPersistenceLayer(static_pk_value=IDEMPOTENCY_PARTITION)): terraform/iam.tf scopes the
#: detection role's table access to it with dynamodb:LeadingKeys (local.idempotency_partition)
IDEMPOTENCY_PARTITION = "IDEMPOTENCY"
#: units of work kept once per request_id (each record's key prefix): detection's reply,
#: recognition's frame and photo responses
DETECTION_UNIT, FRAME_UNIT, PHOTO_UNIT = "detection", "frame", "photo"
TTL_ATTRIBUTE = "expiration"
#: how long a record can keep coming back: every receive until the DLQ (terraform/sqs.tf adds the
#: batching window to the visibility; a minute covers it)
RECORD_LIFETIME_SECONDS = MAX_RECEIVE_COUNT * REQUEST_VISIBILITY_SECONDS + 60
#: an erasure's marks outlive every message that could bring the person back: a message lives at
#: most the work queue's retention (4 days), then the DLQ's (14 days; a redrive restarts the first)
ERASURE_MARK_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class StackNames:
    prefix: str = DEFAULT_PREFIX
    bucket_suffix: str = "local"

    @property
    def request_queue(self) -> str:
        return f"{self.prefix}-request-queue"

    @property
    def request_dlq(self) -> str:
        return f"{self.prefix}-request-dlq"

    @property
    def photo_queue(self) -> str:
        return f"{self.prefix}-photo-queue"

    @property
    def photo_dlq(self) -> str:
        return f"{self.prefix}-photo-dlq"

    @property
    def response_queue(self) -> str:
        return f"{self.prefix}-response-queue"

    @property
    def table(self) -> str:
        return f"{self.prefix}-table"

    @property
    def event_bus(self) -> str:
        return f"{self.prefix}-events"

    @property
    def events_queue(self) -> str:
        """The local stack's tap on the bus (``facepipe watch``): a rule sends every event there."""
        return f"{self.prefix}-events"

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-photos-{self.bucket_suffix}"

    @property
    def detection_function(self) -> str:
        return f"{self.prefix}-face-detection"

    @property
    def recognition_function(self) -> str:
        return f"{self.prefix}-face-recognition"

    ssm_parameter: str = "/pinecone/facepipe"
