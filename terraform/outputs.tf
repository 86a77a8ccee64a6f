output "lambda_function_url" {
  description = "face-detection function URL: POST frames here (docs/contracts.md, Request)."
  value       = aws_lambda_function_url.this.function_url
}

output "lambda_function_url_auth_type" {
  description = "Auth of the function URL: AWS_IAM (sign with SigV4, service lambda) or NONE."
  value       = aws_lambda_function_url.this.authorization_type
}

output "lambda_detection_function_name" {
  description = "Name of the face-detection function."
  value       = aws_lambda_function.detection.function_name
}

output "lambda_recognition_function_name" {
  description = "Name of the face-recognition function."
  value       = aws_lambda_function.recognition.function_name
}

output "sqs_request_queue_url" {
  description = "URL of the request queue (detection -> recognition)."
  value       = aws_sqs_queue.request.url
}

output "sqs_response_queue_url" {
  description = "URL of the response queue clients poll for {request_id, result}."
  value       = aws_sqs_queue.response.url
}

output "sqs_photo_queue_url" {
  description = "URL of the photo queue (S3 object-created events)."
  value       = aws_sqs_queue.photo.url
}

output "sqs_request_dlq_url" {
  description = "URL of the request queue's dead-letter queue."
  value       = aws_sqs_queue.request_dlq.url
}

output "sqs_photo_dlq_url" {
  description = "URL of the photo queue's dead-letter queue."
  value       = aws_sqs_queue.photo_dlq.url
}

output "dynamodb_table_name" {
  description = "Name of the DynamoDB table (people, faces, tags, idempotency)."
  value       = aws_dynamodb_table.this.name
}

output "s3_bucket_name" {
  description = "Name of the photo bucket; upload photos under s3_photo_prefix."
  value       = aws_s3_bucket.this.bucket
}

output "s3_photo_prefix" {
  description = "Key prefix whose uploads are recognised."
  value       = var.photo_prefix
}

output "ecr_repository_url" {
  description = "URL of the ECR repository shared by both functions' images (push here)."
  value       = aws_ecr_repository.this.repository_url
}

output "ssm_parameter_name" {
  description = "SSM SecureString holding the Pinecone API key (write it with scripts/set-pinecone-key.sh)."
  value       = aws_ssm_parameter.pinecone.name
}

output "kms_key_arn" {
  description = "ARN of the stack's customer managed key."
  value       = aws_kms_key.this.arn
}

output "iam_client_policy_arn" {
  description = "Managed policy to attach to callers: function URL, response queue, photo uploads."
  value       = aws_iam_policy.client.arn
}

output "client_config" {
  description = "What a client (facepipe send) needs, in the shape of .facepipe/local.json."
  value = {
    function_url       = aws_lambda_function_url.this.function_url
    request_queue_url  = aws_sqs_queue.request.url
    response_queue_url = aws_sqs_queue.response.url
    photo_bucket       = aws_s3_bucket.this.bucket
    region             = var.region
  }
}
