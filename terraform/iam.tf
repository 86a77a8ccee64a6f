# Least privilege: one role per function, only the calls its code makes, on named resources.
# No managed policies are attached, so these documents are the roles' whole permission set
# (tests/deploy/test_deploy_terraform.py pins each role's action set, and
# tests/deploy/test_deploy_calls.py holds every call the handlers make, DynamoDB partition keys
# included, to these statements and their conditions).

locals {
  # The services that use the stack key on a function's behalf: Lambda (its environment), S3
  # (SSE-KMS objects), DynamoDB (the table), SSM (SecureStrings). The roles may use the key only
  # through them, never directly. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
  kms_via_services = [for service in ["lambda", "s3", "dynamodb", "ssm"] : "${service}.${var.region}.amazonaws.com"]

  # Partitions whose items face-recognition may delete: its own idempotency records (Powertools
  # deletes a record when the work fails) and the stranger registry's entries of an erased person
  # (facepipe.people.registry, keys.strangers_pk). Add a prefix here only with the code that
  # deletes under it (people are deleted by operators, with their own credentials).
  recognition_delete_partitions = [local.idempotency_partition, "STRANGERS#*"]
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# --- face-detection ------------------------------------------------------------------------

resource "aws_iam_role" "detection" {
  name               = local.detection_name
  description        = "Execution role of ${local.detection_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "detection" {
  name   = "${local.detection_name}-least-privilege"
  role   = aws_iam_role.detection.id
  policy = data.aws_iam_policy_document.detection.json
}

data "aws_iam_policy_document" "detection" {
  statement {
    sid       = "QueueFramesAndAnswerFramesWithoutFaces"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.request.arn, aws_sqs_queue.response.arn]
  }

  statement {
    sid       = "WriteClaimCheckCrops"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.crops_prefix}*"]
  }

  statement {
    # Powertools idempotency (one accepted frame per request_id) is all this function does with
    # the table: while it parses untrusted images it may touch no item outside that partition.
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
    sid       = "IdempotencyRecordsOnly"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this.arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = [local.idempotency_partition]
    }
  }

  statement {
    sid       = "UseStackKey" # its environment, the crops it writes, its idempotency items, the device tokens
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }

  dynamic "statement" {
    for_each = var.device_tokens_ssm_parameter_name == "" ? [] : [var.device_tokens_ssm_parameter_name]
    content {
      sid       = "ReadDeviceTokens" # facepipe.access: per-device tokens of a public function URL
      actions   = ["ssm:GetParameter"]
      resources = [aws_ssm_parameter.device_tokens[0].arn]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.detection.arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

# --- face-recognition ----------------------------------------------------------------------

resource "aws_iam_role" "recognition" {
  name               = local.recognition_name
  description        = "Execution role of ${local.recognition_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "recognition" {
  name   = "${local.recognition_name}-least-privilege"
  role   = aws_iam_role.recognition.id
  policy = data.aws_iam_policy_document.recognition.json
}

data "aws_iam_policy_document" "recognition" {
  statement {
    sid = "ConsumeWorkQueues" # the event source mappings poll with the function's role
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
    ]
    resources = [aws_sqs_queue.request.arn, aws_sqs_queue.photo.arn]
  }

  statement {
    sid       = "SendAnswersAndDeadLetterPoisonMessages"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.response.arn, aws_sqs_queue.request_dlq.arn, aws_sqs_queue.photo_dlq.arn]
  }

  statement {
    # facepipe.queues.DeadLetters resolves the source queue's URL, reads its redrive policy
    # (GetQueueAttributes above), then resolves the DLQ's URL.
    sid     = "FindQueuesAndTheirDeadLetterQueues"
    actions = ["sqs:GetQueueUrl"]
    resources = [
      aws_sqs_queue.request.arn,
      aws_sqs_queue.photo.arn,
      aws_sqs_queue.request_dlq.arn,
      aws_sqs_queue.photo_dlq.arn,
    ]
  }

  statement {
    sid     = "ReadPhotosAndClaimCheckCrops" # GetObject also authorises HeadObject (the size check)
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "${aws_s3_bucket.this.arn}/${var.photo_prefix}*",
      "${aws_s3_bucket.this.arn}/${local.crops_prefix}*",
    ]
  }

  statement {
    # Without s3:ListBucket S3 answers a missing key with 403 AccessDenied, which facepipe.storage
    # must treat as transient (retried until the DLQ); with it, 404 NoSuchKey: a permanent error
    # with its reason at once. No s3:prefix condition: S3's own missing-key check carries none.
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax
    sid       = "TellMissingObjectsFromForbidden"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  statement {
    # A face indexed while its person was being erased loses its crop with every version
    # (facepipe.storage.delete_every_version: the bucket is versioned).
    sid       = "StoreFaceCrops"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["${aws_s3_bucket.this.arn}/${local.faces_prefix}*"]
  }

  statement {
    sid       = "KeepSightingAndReviewCrops" # facepipe.gallery (sightings), facepipe.review (unknown faces)
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.sightings_prefix}*", "${aws_s3_bucket.this.arn}/${local.review_prefix}*"]
  }

  statement {
    sid       = "FindCropVersions" # ListObjectVersions, to delete each version of such a crop
    actions   = ["s3:ListBucketVersions"]
    resources = [aws_s3_bucket.this.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.faces_prefix}*"]
    }
  }

  statement {
    # TransactWriteItems is authorised per item as PutItem, UpdateItem, DeleteItem or
    # ConditionCheckItem, and TransactGetItems as GetItem: IAM has no actions of their own for them
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
    # Powertools idempotency is Get/Put/Update/Delete; the stranger registry Query/Put/Delete;
    # people are read with BatchGetItem (a TransactGetItems is cancelled by writes in flight).
    sid = "PeopleFacesTagsAndIdempotency"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.this.arn, "${aws_dynamodb_table.this.arn}/index/GSI1"]
  }

  statement {
    sid       = "DeleteOnlyItsOwnRecords" # in a transaction too: its Delete items need this statement
    actions   = ["dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.recognition_delete_partitions
    }
  }

  statement {
    sid       = "PublishWhatItDecided" # facepipe.publishing: its own bus only
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.this.arn]
  }

  statement {
    sid       = "ReadPineconeKey"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.pinecone.arn]
  }

  statement {
    sid       = "UseStackKey" # environment, S3 objects, table items and the SecureString
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.recognition.arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

# --- clients -------------------------------------------------------------------------------
# Attach to the users/roles that run `facepipe send` or upload photos: call the function URL
# (AWS_IAM needs both actions since October 2025), collect answers, upload photos.

resource "aws_iam_policy" "client" {
  name        = "${var.name_prefix}-client"
  description = "Send frames to ${local.detection_name}, poll the response queue, upload photos"
  policy      = data.aws_iam_policy_document.client.json
}

data "aws_iam_policy_document" "client" {
  statement {
    sid       = "CallFunctionUrl"
    actions   = ["lambda:InvokeFunctionUrl"]
    resources = [aws_lambda_function.detection.arn]
    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }

  statement {
    sid       = "InvokeThroughFunctionUrl"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.detection.arn]
    condition {
      test     = "Bool"
      variable = "lambda:InvokedViaFunctionUrl"
      values   = ["true"]
    }
  }

  statement {
    sid = "CollectAnswers"
    actions = [
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
    ]
    resources = [aws_sqs_queue.response.arn]
  }

  statement {
    sid       = "UploadPhotos"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/${var.photo_prefix}*"]
  }

  statement {
    sid       = "EncryptUploadedPhotos"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}
