# One table (docs/people.md): PERSON#<id>/PROFILE, PERSON#<id>/FACE#<id>,
# MEDIA#<request_id>/FACE#<index>, Powertools idempotency records (TTL "expiration"),
# and GSI1 to list people.

resource "aws_dynamodb_table" "this" {
  name                        = "${var.name_prefix}-table"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "PK"
  range_key                   = "SK"
  deletion_protection_enabled = false # `make destroy` must be able to remove it; PITR covers mistakes

  attribute {
    name = "PK"
    type = "S"
  }

  attribute {
    name = "SK"
    type = "S"
  }

  attribute {
    name = "GSI1PK"
    type = "S"
  }

  attribute {
    name = "GSI1SK"
    type = "S"
  }

  global_secondary_index {
    name            = "GSI1"
    hash_key        = "GSI1PK"
    range_key       = "GSI1SK"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}
