"""AWS itself: the boto3 client bindings, provisioning, the local endpoint and its failures."""
