"""`make bench`: microcosm_pubsub against plain boto3 on the same local endpoint, in the same run."""
