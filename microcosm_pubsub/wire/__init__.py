"""The wire: plain records and rules of SNS and SQS messages; imports nothing else of the package."""
