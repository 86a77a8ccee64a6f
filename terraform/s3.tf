# Photo bucket: photo uploads under var.photo_prefix (ingested through the photo queue), face
# crops of oversized frames under crops/ (claim checks, kept as long as a message or its dead
# letter can name them: local.claim_check_expiry_days in sqs.tf), stored face crops under faces/.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket and are best-effort; CloudTrail S3 data events are the auditable record when an operator wants one.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the copies of biometric source data; photos are re-uploadable inputs and versioning covers accidental deletes.
  bucket        = "${var.name_prefix}-photos-${local.account_id}-${var.region}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true # one KMS call per object batch instead of per object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-claim-check-crops"
    status = "Enabled"
    filter {
      prefix = local.crops_prefix
    }
    expiration {
      days = local.claim_check_expiry_days # >= work queue + DLQ retention: a redrive finds its crops
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Unknown faces kept for review, and the crops of recorded sightings that are not indexed, live
  # as long as the review does (facepipe.review; REVIEW_RETENTION_DAYS); indexed faces' crops stay.
  dynamic "rule" {
    for_each = toset([local.review_prefix, local.sightings_prefix])
    content {
      id     = "expire-${trimsuffix(rule.value, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.review_retention_days
      }
      noncurrent_version_expiration {
        noncurrent_days = 1
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }

  # Uploaded photos are the uploader's own: kept until they delete them, unless a retention is set
  # (people erased with `facepipe people delete` stay in the photos they were uploaded in).
  dynamic "rule" {
    for_each = var.photo_retention_days == null ? [] : [var.photo_retention_days]
    content {
      id     = "expire-uploaded-photos"
      status = "Enabled"
      filter {
        prefix = var.photo_prefix
      }
      expiration {
        days = rule.value
      }
      noncurrent_version_expiration {
        noncurrent_days = 1
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }

  rule {
    id     = "tidy-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Lifecycle rules on a versioned bucket need versioning configured first.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 rejects a bucket policy while the public access block is still being applied.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

data "aws_iam_policy_document" "bucket" {
  # Refuse every plain-HTTP request, whatever the action (a Deny: the wildcard takes nothing away
  # that TLS callers need). https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    actions = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_notification" "this" {
  bucket = aws_s3_bucket.this.id

  queue {
    id            = "photos-to-recognition"
    queue_arn     = aws_sqs_queue.photo.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.photo_prefix
  }

  # S3 validates the destination when the notification is written: the queue policy that lets
  # the bucket send must exist first, or PutBucketNotificationConfiguration fails with
  # "Unable to validate the following destination configurations".
  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/ways-to-add-notification-config-to-bucket.html
  depends_on = [aws_sqs_queue_policy.photo]
}
