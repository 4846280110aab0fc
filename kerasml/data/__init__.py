"""tf.data builders and dataset loaders."""
