"""The sample service on AWS Lambda: set the function's handler to `examples.sample_service.lambda_function.handler`.

The graph is built on the first event and kept while the container lives; configuration comes
from the environment as for the daemon (SAMPLE_SERVICE__SNS_TOPIC_ARNS__DEFAULT and so on).
"""
from __future__ import annotations

from examples.sample_service.daemon import SampleServiceDaemon


handler = SampleServiceDaemon().make_lambda_handler()
