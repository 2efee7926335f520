"""Feed sources: provider adapters and generators, pure translation without Faust."""
