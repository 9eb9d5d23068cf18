"""The example browser and each example's page with its timeline: reads over every job below."""
