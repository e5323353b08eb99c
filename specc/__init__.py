"""specc: a compiler and test harness for neural-network architectures (.net files)."""
__version__ = "0.1.0"
