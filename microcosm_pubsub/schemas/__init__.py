"""Media types to marshmallow schemas: the registries, `@schema`/`@handles`, codecs and naming conventions."""
