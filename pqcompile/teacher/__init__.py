"""Teachers: a local Hugging Face encoder fine-tuned with joint intent and slot heads on the
projection's own tokens, evaluated like students, and used to label text for distillation."""
