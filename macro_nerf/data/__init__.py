"""Photos -> scene: the scene formats we read, their checks, images, EXIF, lens distortion, COLMAP
models, structure-from-motion and packed TFDS datasets, normalised into one `Scene`."""
