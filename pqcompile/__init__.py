"""pqcompile: pQRNN text models to bit-exact ARM firmware."""
__version__ = "0.1.0"
