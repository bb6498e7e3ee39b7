"""Message contracts: JSON Schema of the schemas, the schema lock and compatibility gate, AsyncAPI documents."""
