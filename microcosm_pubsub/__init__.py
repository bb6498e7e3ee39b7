"""Messaging between microcosm services over AWS SNS and SQS."""

# The old microcosm-pubsub's modules: services import them, so each stays importable under its old name.
# The top-level ones whose code moved into the folders are thin aliases: the moved module itself under the old
# name (sys.modules), so that what patches an old name patches the code that runs.
OLD_IMPORT_PATHS = tuple(f"microcosm_pubsub.{name}" for name in (
    "backoff", "batch", "codecs", "constants", "consumer", "context", "daemon", "decorators", "dispatcher",
    "envelope", "errors", "fields", "main", "message", "metrics", "producer", "reader", "registry", "result",
    "sentry", "tracing",
    "chain", "chain.chain", "chain.context", "chain.context_decorators", "chain.decorators", "chain.exceptions",
    "chain.statements", "chain.statements.assign", "chain.statements.call", "chain.statements.case",
    "chain.statements.for_each", "chain.statements.switch", "chain.statements.try_chain", "chain.statements.when",
    "conventions", "conventions.lifecycle", "conventions.messages", "conventions.naming",
    "handlers", "handlers.chain_handlers", "handlers.publish_batch_message", "handlers.uri_handler",
    "matchers", "matchers.message", "matchers.publishing",
))
