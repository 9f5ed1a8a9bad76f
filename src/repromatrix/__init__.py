"""repromatrix: why can't pip upgrade TensorFlow here? Reproduce it across a matrix of
environments."""

__version__ = "0.1.0"
