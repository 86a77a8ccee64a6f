# Placeholder for the Pinecone API key. Terraform creates the parameter and never its value:
# scripts/set-pinecone-key.sh writes the real key (read from stdin) and ignore_changes keeps
# Terraform from putting the placeholder back. The function reads it at run time
# (PINECONE_SSM_PARAMETER_NAME) and caches it; it is never an environment variable.
# Note: the provider refreshes the decrypted value into the state, so keep the state in an
# encrypted backend with restricted access.

resource "aws_ssm_parameter" "pinecone" {
  name        = var.pinecone_ssm_parameter_name
  description = "Pinecone API key for ${var.name_prefix} (set with scripts/set-pinecone-key.sh)"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = "set-by-scripts/set-pinecone-key.sh"

  lifecycle {
    ignore_changes = [value]
  }
}

# Per-device tokens of a public function URL (facepipe.access), when
# var.device_tokens_ssm_parameter_name is set: JSON {"<source>": "<token>"}, written by an
# operator (aws ssm put-parameter --overwrite), never by Terraform (ignore_changes), read by
# face-detection at INIT and every 5 minutes.
resource "aws_ssm_parameter" "device_tokens" {
  count       = var.device_tokens_ssm_parameter_name == "" ? 0 : 1
  name        = var.device_tokens_ssm_parameter_name
  description = "Per-device tokens for ${local.detection_name}: JSON {source: token}"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = jsonencode({ placeholder = "set-with-aws-ssm-put-parameter-overwrite" })

  lifecycle {
    ignore_changes = [value]
  }
}
