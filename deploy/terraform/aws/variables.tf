variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mdz"
}

variable "vpc_id" {
  description = "The VPC to run in (bring your own: its flow logs, NAT and endpoints are yours)."
  type        = string
}

variable "public_subnet_ids" {
  description = "At least two public subnets (different AZs) for the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "At least two private subnets (different AZs, with a NAT or VPC endpoints) for the tasks, RDS and Redis."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of public_url's host, for the HTTPS listener."
  type        = string
}

variable "public_url" {
  description = "Where users reach mdz, e.g. https://mdz.example.com (MDZ_PUBLIC_URL)."
  type        = string
}

variable "mail_from" {
  description = "The From of every mail mdz sends (MDZ_MAIL_FROM), e.g. \"mdz <noreply@example.com>\"."
  type        = string
}

variable "image" {
  description = "The mdz image (deploy/Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mdz:0.1.0."
  type        = string
}

variable "replicas" {
  description = "Tasks of the service (3: one per AZ and a rolling update never drops below two)."
  type        = number
  default     = 3
}

variable "max_replicas" {
  description = "Upper bound of CPU autoscaling; × database_pool_size must stay under PostgreSQL's max_connections."
  type        = number
  default     = 10
}

variable "database_pool_size" {
  description = "MDZ_DATABASE_POOL_SIZE per task."
  type        = number
  default     = 16
}

variable "shutdown_timeout_secs" {
  description = "MDZ_SHUTDOWN_TIMEOUT_SECS; the container's stopTimeout and the target group's deregistration delay follow it."
  type        = number
  default     = 30
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "RDS storage in GiB (autoscaling up to 5×)."
  type        = number
  default     = 50
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "log_retention_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 365
}

variable "llm_provider" {
  description = "MDZ_LLM_PROVIDER (openai, anthropic, bedrock) or empty for no chat."
  type        = string
  default     = ""
}

variable "llm_model" {
  description = "MDZ_LLM_MODEL."
  type        = string
  default     = ""
}
