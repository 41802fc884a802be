"""Distillation: augmented text, the teacher's soft targets on disk, the distillation loss, and the
adapter that feeds both to the student's training loop."""
