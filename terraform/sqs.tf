# Queues (docs/contracts.md: Request message, Response, Photos, Failures); names and numbers as in lambdas/facepipe/names.py.
# All use SQS-managed SSE: senders and receivers need no KMS permissions, and S3 can publish
# to the photo queue without a key policy.

locals {
  # AWS: visibility timeout >= 6 x function timeout (+ batching window) for SQS event sources.
  # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
  work_queue_visibility_timeout = 6 * var.recognition_timeout + var.maximum_batching_window_in_seconds

  dlq_retention_seconds        = 1209600 # 14 days, the SQS maximum
  work_queue_retention_seconds = 345600  # 4 days, the request and photo queues

  # A claim-checked crop must outlive every message that names it, or a redrive can never
  # succeed: a message lives at most the work queue's retention, then the DLQ's (a redrive
  # from the DLQ starts the source queue's clock again), so crops expire a day after both.
  claim_check_expiry_days = ceil((local.work_queue_retention_seconds + local.dlq_retention_seconds) / 86400) + 1
}

# --- request queue: detection -> recognition (one message per frame) ------------------------

resource "aws_sqs_queue" "request" {
  name                       = "${var.name_prefix}-request-queue"
  visibility_timeout_seconds = local.work_queue_visibility_timeout
  message_retention_seconds  = local.work_queue_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.request_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue" "request_dlq" {
  name                      = "${var.name_prefix}-request-dlq"
  message_retention_seconds = local.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue_redrive_allow_policy" "request_dlq" {
  queue_url = aws_sqs_queue.request_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.request.arn]
  })
}

# --- photo queue: S3 object-created events -> recognition ----------------------------------

resource "aws_sqs_queue" "photo" {
  name                       = "${var.name_prefix}-photo-queue"
  visibility_timeout_seconds = local.work_queue_visibility_timeout
  message_retention_seconds  = local.work_queue_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.photo_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_sqs_queue" "photo_dlq" {
  name                      = "${var.name_prefix}-photo-dlq"
  message_retention_seconds = local.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue_redrive_allow_policy" "photo_dlq" {
  queue_url = aws_sqs_queue.photo_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.photo.arn]
  })
}

resource "aws_sqs_queue_policy" "photo" {
  queue_url = aws_sqs_queue.photo.id
  policy    = data.aws_iam_policy_document.photo_queue.json
}

data "aws_iam_policy_document" "photo_queue" {
  statement {
    sid = "PhotoBucketPublishesObjectCreatedEvents"
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.photo.arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- response queue: recognition -> polling clients ----------------------------------------
# Many clients poll it and each deletes only its own answer (docs/contracts.md, Response): a message seen by the wrong
# poller must come back at once, so the visibility timeout is 0 s (facepipe.names
# RESPONSE_VISIBILITY_SECONDS; tests/deploy keeps the two equal). Every such sighting counts as
# a receive, so there is deliberately NO redrive policy: a small maxReceiveCount would move a
# waiting answer to a DLQ before its owner saw it. Unclaimed answers expire after an hour.

resource "aws_sqs_queue" "response" {
  name                       = "${var.name_prefix}-response-queue"
  visibility_timeout_seconds = 0
  message_retention_seconds  = 3600
  sqs_managed_sse_enabled    = true
}

# --- face-recognition event sources --------------------------------------------------------

resource "aws_lambda_event_source_mapping" "request" {
  event_source_arn                   = aws_sqs_queue.request.arn
  function_name                      = aws_lambda_function.recognition.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  # CreateEventSourceMapping checks that the function's role may receive from the queue.
  depends_on = [aws_iam_role_policy.recognition]

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "batch_size above 10 needs maximum_batching_window_in_seconds >= 1."
    }
  }
}

resource "aws_lambda_event_source_mapping" "photo" {
  event_source_arn                   = aws_sqs_queue.photo.arn
  function_name                      = aws_lambda_function.recognition.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  # CreateEventSourceMapping checks that the function's role may receive from the queue.
  depends_on = [aws_iam_role_policy.recognition]

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "batch_size above 10 needs maximum_batching_window_in_seconds >= 1."
    }
  }
}
