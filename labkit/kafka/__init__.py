"""Kafka plumbing with the course defaults: clients, topics, offsets and watermarks, reading and sending records."""
