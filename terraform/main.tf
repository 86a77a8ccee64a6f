provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "facepipe", ManagedBy = "terraform" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  detection_name   = "${var.name_prefix}-face-detection"
  recognition_name = "${var.name_prefix}-face-recognition"

  # Key prefixes the functions write to; the photo prefix may not overlap them (see variables.tf).
  crops_prefix = "crops/" # claim-check crops of frames too big for one SQS message (see s3.tf lifecycle)
  faces_prefix = "faces/" # stored face crops, kept so faces can be re-embedded later
  # crops of recorded sightings not indexed, and of unknown faces kept for review (both expire)
  sightings_prefix = "sightings/"
  review_prefix    = "review/"

  # Partition key of the Powertools idempotency records of both functions (facepipe.names
  # IDEMPOTENCY_PARTITION): the detection role may touch no other item (iam.tf, LeadingKeys).
  idempotency_partition = "IDEMPOTENCY"

  # Baked into the image by docker/base.Dockerfile: the weights (scripts/download_weights.py) exported to ONNX.
  facenet_weights_path = "/opt/facepipe/weights/facenet-vggface2.onnx"

  alarm_actions = var.alarm_sns_topic_arn == "" ? [] : [var.alarm_sns_topic_arn]
}
