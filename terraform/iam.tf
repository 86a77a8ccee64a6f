# Least privilege: one role per function, only the calls its code makes, on named resources.
# No managed policies are attached, so these documents are the roles' whole permission set
# (tests/deploy/test_deploy_terraform.py pins each role's action set).

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
    sid       = "IdempotencyRecords" # Powertools idempotency: one accepted frame per request_id
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  statement {
    sid       = "UseStackKey" # its environment and the crops it writes are encrypted with it
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
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
    sid     = "ReadPhotosAndClaimCheckCrops"
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "${aws_s3_bucket.this.arn}/${var.photo_prefix}*",
      "${aws_s3_bucket.this.arn}/${local.crops_prefix}*",
    ]
  }

  statement {
    sid       = "StoreFaceCrops"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.faces_prefix}*"]
  }

  statement {
    # Transactions are authorised per item as its own action (PutItem, UpdateItem, ConditionCheckItem
    # for tag_media's "person still present" checks, GetItem for TransactGetItems): IAM has no
    # actions of their own for them
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
    # Powertools idempotency is Get/Put/Update/Delete; the stranger registry Query/Put/Delete.
    sid = "PeopleFacesTagsAndIdempotency"
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.this.arn, "${aws_dynamodb_table.this.arn}/index/GSI1"]
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
