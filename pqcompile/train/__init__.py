"""Training, evaluation and decoding of pQRNN students and their baselines."""
