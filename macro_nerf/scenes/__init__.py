"""Built-in scenes: a thin-lens ray tracer that renders defocus-blurred photos with their sharp
references, depth and lens, for the demo, the tests and experiments."""
