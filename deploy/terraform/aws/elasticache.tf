resource "aws_elasticache_subnet_group" "mdz" {
  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
}

# Rate-limit counters, revocation flags and the pub/sub bus between tasks: nothing PostgreSQL
# does not also hold, so no snapshots are needed.
resource "aws_elasticache_replication_group" "mdz" {
  #checkov:skip=CKV_AWS_30:mdz's Redis client is built without TLS (deploy/README.md, "Limits"); Redis is reachable from the tasks' security group in private subnets only.
  #checkov:skip=CKV_AWS_31:An AUTH token requires in-transit encryption in ElastiCache (see CKV_AWS_30); the security group is the boundary.
  #checkov:skip=CKV_AWS_191:Encrypted at rest with the AWS-managed key: the data is ephemeral (counters, flags, pub/sub) and a CMK adds nothing for it.
  replication_group_id       = "${var.name}-redis"
  description                = "mdz: rate limits, revocations, collab bus"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.mdz.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  transit_encryption_enabled = false
  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 0
  apply_immediately          = false
}
