"""Networks: the HR-Net generator and the frozen VGG19 feature extractor."""
