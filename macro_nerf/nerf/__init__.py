"""The sharp field: cameras and rays, hash encoding, radiance and proposal fields, sampling along
rays, compositing, the model, and chunked data-parallel rendering."""
