# The two functions (docs/contracts.md, Entry points and names), both arm64 container images from the shared
# repository. Their environment is exactly the settings each one reads
# (facepipe.settings.settings_for); tests/deploy/test_deploy_terraform.py checks the two agree.

locals {
  detection_image_uri   = var.detection_image_uri != "" ? var.detection_image_uri : "${aws_ecr_repository.this.repository_url}:face-detection-${var.image_tag}"
  recognition_image_uri = var.recognition_image_uri != "" ? var.recognition_image_uri : "${aws_ecr_repository.this.repository_url}:face-recognition-${var.image_tag}"
}

# Created before the functions so Lambda never creates them itself (unencrypted, kept forever).
resource "aws_cloudwatch_log_group" "detection" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): logs name people and requests, so data minimisation wins over a 1-year default; raise it where a compliance regime requires.
  name              = "/aws/lambda/${local.detection_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_cloudwatch_log_group" "recognition" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30): logs name people and requests, so data minimisation wins over a 1-year default; raise it where a compliance regime requires.
  name              = "/aws/lambda/${local.recognition_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# --- face-detection: function URL -> MTCNN -> request queue ---------------------------------

resource "aws_lambda_function" "detection" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously through its function URL only; a function DLQ applies to asynchronous invocations, and the caller gets the error.
  #checkov:skip=CKV_AWS_117:Reaches only AWS APIs over TLS; a VPC would add a NAT gateway or endpoints for no data-path benefit.
  #checkov:skip=CKV_AWS_272:Code signing applies to .zip packages only; this is a container image from a KMS-encrypted, scan-on-push, immutable-tag repository.
  function_name = local.detection_name
  description   = "facepipe: function URL frames -> MTCNN face crops -> request queue"
  role          = aws_iam_role.detection.arn
  package_type  = "Image"
  image_uri     = local.detection_image_uri
  architectures = ["arm64"]

  memory_size                    = var.detection_memory_size
  timeout                        = var.detection_timeout
  reserved_concurrent_executions = var.detection_reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  ephemeral_storage {
    size = var.detection_ephemeral_storage
  }

  image_config {
    command = ["face_detection.handler.handler"]
  }

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = {
      REQUEST_QUEUE_URL       = aws_sqs_queue.request.url
      RESPONSE_QUEUE_URL      = aws_sqs_queue.response.url
      DDB_TABLE_NAME          = aws_dynamodb_table.this.name
      S3_BUCKET_NAME          = aws_s3_bucket.this.bucket
      EMBEDDING_MODEL         = var.embedding_model
      MIN_FACE_SCORE          = tostring(var.min_face_score)
      MIN_FACE_SIZE           = tostring(var.min_face_size)
      MIN_FACE_FRACTION       = tostring(var.min_face_fraction)
      DETECTION_PIXEL_BUDGET  = tostring(var.detection_pixel_budget)
      MAX_FACES_PER_FRAME     = tostring(var.max_faces_per_frame)
      MAX_BODY_BYTES          = tostring(var.max_body_bytes)
      MAX_IMAGE_PIXELS        = tostring(var.max_image_pixels)
      LOG_LEVEL               = var.log_level
      POWERTOOLS_SERVICE_NAME = "face-detection"

      DEVICE_TOKENS_SSM_PARAMETER_NAME = var.device_tokens_ssm_parameter_name
    }
  }

  depends_on = [aws_cloudwatch_log_group.detection, aws_iam_role_policy.detection, aws_ssm_parameter.device_tokens]

  lifecycle {
    precondition {
      condition     = var.detection_image_uri != "" || var.image_tag != ""
      error_message = "Set image_tag (the tag suffix scripts/build-and-push.sh printed) or detection_image_uri."
    }
    precondition {
      # A public URL with nothing bounding it lets anyone take the account's whole concurrency.
      condition     = var.function_url_auth_type == "AWS_IAM" || var.detection_reserved_concurrency != null
      error_message = "function_url_auth_type = NONE needs detection_reserved_concurrency (the most concurrent frames a public URL may cost)."
    }
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.detection.function_name
  authorization_type = var.function_url_auth_type
  invoke_mode        = "BUFFERED"

  dynamic "cors" {
    for_each = length(var.cors_allow_origins) > 0 ? [1] : []
    content {
      allow_origins  = var.cors_allow_origins
      allow_methods  = ["POST"]
      allow_headers  = ["content-type", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-facepipe-token"]
      expose_headers = []
      max_age        = 3600
    }
  }
}

# A public URL (auth NONE) needs both statements since October 2025; with AWS_IAM the callers'
# own IAM policies grant them (see aws_iam_policy.client).
# https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html
resource "aws_lambda_permission" "public_url" {
  count                  = var.function_url_auth_type == "NONE" ? 1 : 0
  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.detection.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "public_url_invoke" {
  count                    = var.function_url_auth_type == "NONE" ? 1 : 0
  statement_id             = "AllowPublicInvokeViaFunctionUrl"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.detection.function_name
  principal                = "*"
  invoked_via_function_url = true
}

# --- face-recognition: request and photo queues -> embed -> Pinecone -> DynamoDB/response ----

resource "aws_lambda_function" "recognition" {
  #checkov:skip=CKV_AWS_116:Invoked by SQS event source mappings only; failed messages go to the queues' own DLQs (redrive policy), which a function DLQ would not see.
  #checkov:skip=CKV_AWS_117:Calls Pinecone on the internet; a VPC would need a NAT gateway for no data-path benefit.
  #checkov:skip=CKV_AWS_272:Code signing applies to .zip packages only; this is a container image from a KMS-encrypted, scan-on-push, immutable-tag repository.
  function_name = local.recognition_name
  description   = "facepipe: face crops and S3 photos -> embeddings -> Pinecone match -> tags and responses"
  role          = aws_iam_role.recognition.arn
  package_type  = "Image"
  image_uri     = local.recognition_image_uri
  architectures = ["arm64"]

  memory_size                    = var.recognition_memory_size
  timeout                        = var.recognition_timeout
  reserved_concurrent_executions = var.recognition_reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  ephemeral_storage {
    size = var.recognition_ephemeral_storage
  }

  image_config {
    command = ["face_recognition.handler.handler"]
  }

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = {
      RESPONSE_QUEUE_URL          = aws_sqs_queue.response.url
      DDB_TABLE_NAME              = aws_dynamodb_table.this.name
      S3_BUCKET_NAME              = aws_s3_bucket.this.bucket
      VECTOR_BACKEND              = "pinecone"
      PINECONE_INDEX_NAME         = var.pinecone_index_name
      PINECONE_INDEX_HOST         = var.pinecone_index_host
      PINECONE_NAMESPACE          = var.pinecone_namespace
      PINECONE_SSM_PARAMETER_NAME = aws_ssm_parameter.pinecone.name
      EMBEDDING_MODEL             = var.embedding_model
      FACENET_WEIGHTS_PATH        = local.facenet_weights_path
      FACE_SIMILARITY_THRESHOLD   = var.face_similarity_threshold
      FACE_SIMILARITY_THRESHOLD_FAIR = var.face_similarity_threshold_fair
      FACE_SIMILARITY_THRESHOLD_POOR = var.face_similarity_threshold_poor
      FACE_RECOGNITION_TOLERANCE  = var.face_recognition_tolerance
      FACE_MATCH_MARGIN           = var.face_match_margin
      MIN_FACE_SCORE              = tostring(var.min_face_score)
      MIN_FACE_SIZE               = tostring(var.min_face_size)
      MIN_FACE_FRACTION           = tostring(var.min_face_fraction)
      DETECTION_PIXEL_BUDGET      = tostring(var.detection_pixel_budget)
      MAX_FACES_PER_FRAME         = tostring(var.max_faces_per_frame)
      MAX_IMAGE_PIXELS            = tostring(var.max_image_pixels)
      MAX_PHOTO_BYTES             = tostring(var.max_photo_bytes)
      PHOTO_PREFIX                = var.photo_prefix
      PHOTO_RESPONSES             = tostring(var.photo_responses)
      KEEP_UNKNOWN_FACES          = tostring(var.keep_unknown_faces)
      EVENT_BUS_NAME              = aws_cloudwatch_event_bus.this.name
      ARRIVAL_COOLDOWN_SECONDS    = tostring(var.arrival_cooldown_seconds)
      REVIEW_RETENTION_DAYS       = tostring(var.review_retention_days)
      LOG_LEVEL                   = var.log_level
      POWERTOOLS_SERVICE_NAME     = "face-recognition"
    }
  }

  depends_on = [aws_cloudwatch_log_group.recognition, aws_iam_role_policy.recognition]

  lifecycle {
    precondition {
      condition     = var.recognition_image_uri != "" || var.image_tag != ""
      error_message = "Set image_tag (the tag suffix scripts/build-and-push.sh printed) or recognition_image_uri."
    }
    precondition {
      condition     = var.recognition_reserved_concurrency == null || coalesce(var.recognition_reserved_concurrency, 0) >= 2 * var.maximum_concurrency
      error_message = "recognition_reserved_concurrency must be at least 2 x maximum_concurrency (two event source mappings), or their invocations get throttled."
    }
  }
}
