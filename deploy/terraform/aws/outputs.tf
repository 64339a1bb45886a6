output "url" {
  description = "Point public_url's DNS name (CNAME/alias) here."
  value       = aws_lb.mdz.dns_name
}

output "bucket" {
  value = aws_s3_bucket.attachments.id
}

output "migrate_task_definition" {
  description = "Run before each rollout: aws ecs run-task … --task-definition <this>."
  value       = aws_ecs_task_definition.migrate.arn
}

output "llm_secret_arn" {
  description = "Put the model provider's key here when llm_provider is set."
  value       = aws_secretsmanager_secret.llm.arn
}

output "task_subnets_and_security_group" {
  description = "The network configuration for aws ecs run-task."
  value = {
    subnets        = var.private_subnet_ids
    security_group = aws_security_group.tasks.id
  }
}

output "smtp_secret_arn" {
  description = "Put MDZ_SMTP_URL here (an smtp:// URL with the user and password of your mail relay): the tasks start once it is set."
  value       = aws_secretsmanager_secret.smtp.arn
}
