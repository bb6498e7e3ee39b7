"""The sample service's tests: the testing toolkit only, no mocks."""
