"""Messaging between microcosm services over AWS SNS and SQS."""
