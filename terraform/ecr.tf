# One repository shared by the images of both functions (and their base): the images differ
# only in their last, tiny layer, so the multi-GB torch layers are stored and pushed once.
# Tags: face-detection-<git sha>, face-recognition-<git sha>, base-<git sha> (IMMUTABLE).

resource "aws_ecr_repository" "this" {
  name                 = var.name_prefix
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = concat(
      [{
        rulePriority = 1
        description  = "Drop untagged layers and manifests after a day"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      }],
      [for i, prefix in ["face-detection-", "face-recognition-", "base-"] : {
        rulePriority = i + 2
        description  = "Keep the last 10 ${prefix}* images (rollback window)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [prefix]
          countType     = "imageCountMoreThan"
          countNumber   = 10
        }
        action = { type = "expire" }
      }],
    )
  })
}
