"""What process APIs share beyond the flow engine: how a flow is served as a REST collection."""
