"""A sample service: handles an order being created and announces its invoice."""
