"""Driven adapters over torch and torchvision: models, data, fitting, training, evaluation, prediction."""
