terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.29 is the first release whose aws_lambda_permission has `invoked_via_function_url`:
      # since October 2025 a public (auth NONE) function URL also needs a lambda:InvokeFunction
      # statement conditioned on lambda:InvokedViaFunctionUrl, which 5.x cannot express.
      # https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html
      # https://github.com/hashicorp/terraform-provider-aws/issues/44829
      version = "~> 6.29"
    }
  }
}
