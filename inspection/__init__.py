"""What regularization does to a network: statistics on device, and their TensorBoard summaries."""
