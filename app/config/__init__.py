"""The config: pydantic model, loading with ${ENV} expansion, matchers, file versions."""
